"""The RNN Gradient Lab web service."""
