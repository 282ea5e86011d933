"""Palaestra's learned agent model, a LoRA adapter (``local:palaestra``) on SmolLM2-135M-Instruct: package
data only (``adapter_config.json``, ``adapter_model.safetensors``, ``palaestra.json``, ``train.json``).
How it was trained and how well it does: docs/model-card.md; reproduced by scripts/train_default.py."""
