"""ai-code-evals: evaluate several LLM-generated versions of a function in isolated sandboxes."""
__version__ = "0.1.0"
