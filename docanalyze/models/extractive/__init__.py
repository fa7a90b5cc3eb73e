"""The offline extractive analyzer: cited sentences chosen without a model."""
