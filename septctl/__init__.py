"""septctl: few-shot prompt tuning of audio-language models with SEPT."""

__version__ = "0.1.0"
