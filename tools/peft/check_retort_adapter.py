#!/usr/bin/env python3
"""Checks the other direction: PEFT loads an adapter that Retort wrote and reproduces Retort's logits.

  /tmp/peftvenv/bin/python tools/peft/check_retort_adapter.py BASE_MODEL_DIR ADAPTER_DIR LOGITS.safetensors TOKENS.json

LOGITS.safetensors holds one tensor "logits" [B, T, V], computed by Retort for the ids in TOKENS.json ([B][T])
with the adapter attached. Prints the largest difference and exits non-zero above 1e-4.
"""
import json, sys
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

base, adapter, logits_file, tokens_file = sys.argv[1:5]
model = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(base, dtype=torch.float32).eval(), adapter).eval()
tokens = torch.tensor(json.load(open(tokens_file)))
with torch.no_grad():
    peft_logits = model(tokens).logits
retort_logits = load_file(logits_file)["logits"]
diff = (peft_logits - retort_logits).abs().max().item()
print(f"max |PEFT - Retort| = {diff:.3g} (max |logit| {retort_logits.abs().max().item():.3g})")
sys.exit(0 if diff <= 1e-4 else 1)
