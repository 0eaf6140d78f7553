#!/usr/bin/env python3
"""Golden files for Retort's LoRA tests, made with PEFT itself (and transformers' LlamaForCausalLM).

For a tiny random Llama this writes, under models/src/test/resources/lora/peft-tiny/:
  base/                   the base model as transformers saves it (config.json, model.safetensors, F32)
  <case>/adapter/         a LoRA adapter as PEFT's save_pretrained writes it (adapter_config.json,
                          adapter_model.safetensors); B is random so that the adapter changes the output
  <case>/golden.safetensors
                          logits [B, T, V] of the adapted model for tokens.json, the logits after
                          merge_and_unload(), and merged.<name> for every merged weight
  tokens.json             the input ids [B][T]
Cases: "list" (target_modules a list, alpha/r scaling) and "rslora" (all-linear, use_rslora).

Set-up (PEFT is not in Debian):
  /usr/bin/python3 -m venv --system-site-packages /tmp/peftvenv && /tmp/peftvenv/bin/pip install peft
Run from the project root:  /tmp/peftvenv/bin/python tools/peft/make_golden.py
The other direction (PEFT reading an adapter Retort wrote) is checked by check_retort_adapter.py.
"""
import json, os, shutil
import torch
import peft
import transformers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

OUT = os.path.join("models", "src", "test", "resources", "lora", "peft-tiny")
TOKENS = [[1, 5, 9, 30, 2, 17], [4, 11, 3, 8, 25, 6]]
CASES = {
    "list": dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], use_rslora=False),
    "rslora": dict(r=4, lora_alpha=6, target_modules="all-linear", use_rslora=True),
}


def base_model():
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=48, max_position_embeddings=32, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config).float().eval()
    with torch.no_grad():   # larger weights than initializer_range 0.02 so that logits are not all near 0
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    return model


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    tokens = torch.tensor(TOKENS)
    with open(os.path.join(OUT, "tokens.json"), "w") as f:
        json.dump(TOKENS, f)
    base_model().save_pretrained(os.path.join(OUT, "base"), safe_serialization=True)
    os.remove(os.path.join(OUT, "base", "generation_config.json"))
    for seed, (case, settings) in enumerate(CASES.items()):
        model = base_model()
        lora = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, **settings))
        torch.manual_seed(100 + seed)
        with torch.no_grad():
            for name, p in lora.named_parameters():
                if "lora_B" in name:
                    p.uniform_(-0.3, 0.3)
        lora.eval()
        case_dir = os.path.join(OUT, case)
        lora.save_pretrained(os.path.join(case_dir, "adapter"), safe_serialization=True)
        os.remove(os.path.join(case_dir, "adapter", "README.md"))   # PEFT's model card template
        with torch.no_grad():
            adapted = lora(tokens).logits.contiguous()
            merged_model = lora.merge_and_unload()
            merged = merged_model(tokens).logits.contiguous()
            tensors = {"logits": adapted, "merged_logits": merged}
            for name, p in merged_model.named_parameters():
                if name.endswith("proj.weight"):
                    tensors["merged." + name] = p.detach().contiguous()
        save_file(tensors, os.path.join(case_dir, "golden.safetensors"))
    with open(os.path.join(OUT, "VERSIONS"), "w") as f:
        f.write(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}\n")


if __name__ == "__main__":
    main()
