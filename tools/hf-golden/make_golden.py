#!/usr/bin/env python3
"""Makes the golden files of Retort's models/hf tests with the reference Python implementations.

Writes into models/src/test/resources/dev/retort/models/hf/:
  mixed.safetensors, mixed.expected.json   a file written by the safetensors library (mixed dtypes, a scalar,
                                            an empty tensor, metadata) and, per tensor, its dtype, shape, the
                                            raw little-endian element bits and the values as numpy reads them
  writer-reference.safetensors              what the safetensors library writes for tensors Retort can write;
                                            Retort's writer must produce the same bytes
  config-X.resolved.json                    for each hand-written config-X.json: the values transformers
                                            resolves from it (defaults filled in)
  config-X.v5.json                          config-X.json as transformers 5 saves it (rope_parameters, dtype)
and checks that every config-X.retort.json (LlamaConfig.toJson() output, committed by the Java tests' author)
loads in transformers to the same resolved values as config-X.json.

Needs: safetensors, numpy, ml_dtypes, transformers (5.x; torch is not needed). Run from the project root:
  python3 tools/hf-golden/make_golden.py
"""
import glob
import json
import os
import shutil
import struct
import sys
import tempfile

import ml_dtypes
import numpy as np
import safetensors
import transformers
from safetensors.numpy import save_file
from transformers import AutoConfig

OUT = os.path.join("models", "src", "test", "resources", "dev", "retort", "models", "hf")


def f16_specials():
    # 0, -0, smallest subnormal, largest normal, inf, -inf, a NaN with a payload, an ordinary value
    bits = [0x0000, 0x8000, 0x0001, 0x7BFF, 0x7C00, 0xFC00, 0x7E01, 0x3C00 + 0x155]
    return np.array(bits, dtype=np.uint16).view(np.float16).reshape(2, 4)


def bf16_values():
    bits = [0x3F80, 0xBFC0, 0x0001, 0x7F80, 0x7FC1, 0x8000]
    return np.array(bits, dtype=np.uint16).view(ml_dtypes.bfloat16)


def writable_tensors():
    """Tensors of the dtypes Retort computes with (F32, F16, BF16, I8)."""
    return {
        "model.layers.0.mlp.up_proj.weight": (np.arange(12, dtype=np.float32) * 0.25 - 1.5).reshape(3, 4),
        "model.norm.weight": np.array([1.0, -0.0, 3.5e-39, np.float32(1) / np.float32(3)], dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "half": f16_specials(),
        "brain": bf16_values(),
        "int8": np.array([-128, -1, 0, 1, 127], dtype=np.int8),
    }


def element_bits(array):
    raw = np.ascontiguousarray(array).reshape(-1)
    unsigned = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[raw.dtype.itemsize]
    return [int(b) for b in raw.view(unsigned)]


def values(array):
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype.kind in "iu":
        return [int(v) for v in flat]
    return [repr(float(v)) for v in flat]  # 'nan', 'inf', '-0.0' kept exact as strings


def make_safetensors():
    mixed = writable_tensors()
    mixed["positions"] = np.array([0, -1, 2**40], dtype=np.int64)
    mixed["mask"] = np.array([[1, 0], [0, 255]], dtype=np.uint8)
    mixed_path = os.path.join(OUT, "mixed.safetensors")
    save_file(mixed, mixed_path, metadata={"format": "pt", "made_by": "tools/hf-golden/make_golden.py"})
    expected = {
        name: {
            "dtype": header_dtype(mixed_path, name),
            "shape": list(array.shape),
            "bits": element_bits(array),
            "values": values(array),
        }
        for name, array in sorted(mixed.items())
    }
    with open(os.path.join(OUT, "mixed.expected.json"), "w") as f:
        json.dump({"safetensors_version": safetensors.__version__, "tensors": expected}, f, indent=1)
        f.write("\n")
    save_file(writable_tensors(), os.path.join(OUT, "writer-reference.safetensors"), metadata={"format": "pt"})


def header_dtype(path, name):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))[name]["dtype"]


def resolved(config):
    rope = dict(config.rope_parameters or {})
    dtype = config.dtype if isinstance(config.dtype, str) or config.dtype is None else str(config.dtype).replace("torch.", "")
    eos = config.eos_token_id
    return {
        "model_type": config.model_type,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "head_dim": config.head_dim,
        "vocab_size": config.vocab_size,
        "max_position_embeddings": config.max_position_embeddings,
        "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": rope.get("rope_theta"),
        "rope_type": rope.get("rope_type"),
        "rope_factor": rope.get("factor"),
        "rope_low_freq_factor": rope.get("low_freq_factor"),
        "rope_high_freq_factor": rope.get("high_freq_factor"),
        "rope_original_max_position_embeddings": rope.get("original_max_position_embeddings"),
        "tie_word_embeddings": config.tie_word_embeddings,
        "bos_token_id": config.bos_token_id,
        "eos_token_ids": [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos]),
        "attention_bias": getattr(config, "attention_bias", False),
        "mlp_bias": getattr(config, "mlp_bias", False),
        "sliding_window": getattr(config, "sliding_window", None),
        "dtype": dtype,
    }


def load(path):
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(path, os.path.join(d, "config.json"))
        return AutoConfig.from_pretrained(d)


def make_configs():
    failures = 0
    for source in sorted(glob.glob(os.path.join(OUT, "config-*.json"))):
        if source.endswith((".resolved.json", ".v5.json", ".retort.json")):
            continue
        stem = source[: -len(".json")]
        config = load(source)
        expected = resolved(config)
        with open(stem + ".resolved.json", "w") as f:
            json.dump({"transformers_version": transformers.__version__, **expected}, f, indent=2)
            f.write("\n")
        with tempfile.TemporaryDirectory() as d:
            config.save_pretrained(d)
            shutil.copy(os.path.join(d, "config.json"), stem + ".v5.json")
        exported = stem + ".retort.json"
        if os.path.exists(exported):
            got = resolved(load(exported))
            # Retort exports Llama; a Mistral config whose window never applies is the same model as Llama.
            for key in ("model_type", "sliding_window"):
                got.pop(key), expected.pop(key)
            if got != expected:
                failures += 1
                print(f"MISMATCH {exported}: transformers resolves {got}, the source resolves {expected}")
            else:
                print(f"ok {exported}: transformers loads it to the same values")
    return failures


if __name__ == "__main__":
    make_safetensors()
    sys.exit(1 if make_configs() else 0)
