"""adkit.nn: a Keras-like neural-network stack on adkit's reverse mode (to come, issue 4)."""
