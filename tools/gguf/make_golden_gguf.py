#!/usr/bin/env python3
"""Writes the golden GGUF of Retort's GgufGoldenTest with llama.cpp's own gguf-py (pip package `gguf`).

  make_golden_gguf.py OUT_DIR      writes OUT_DIR/tiny-llama.gguf and OUT_DIR/tiny-llama.json

The GGUF file is a one-layer Llama (hidden 32, 2 heads of 16, 1 KV head, feed-forward 32, 32 tokens) with random
weights, each matrix stored in a different ggml type through gguf-py's quants module (F32, F16, BF16, Q8_0, Q4_0,
Q4_1, Q5_0, Q5_1), the q/k rows permuted as convert_hf_to_gguf.py permutes them, 64-byte alignment, a tiny
SentencePiece-style vocabulary, a chat template and one key of every metadata value type. The JSON holds what a
reader must find: every key's type and value, every tensor's type and ggml dims, each tensor's values in HF layout
(gguf-py's dequantize, q/k permutation undone) as the SHA-256 of their little-endian F32 bytes plus the first
eight values, and the logits transformers' LlamaForCausalLM computes in F32 from those weights for a few tokens.
Needs numpy, torch, transformers and gguf.
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import quantize, dequantize

HIDDEN, HEADS, KV_HEADS, FF, VOCAB, CONTEXT = 32, 2, 1, 32, 32, 64
HEAD_DIM = HIDDEN // HEADS
TOKENS = [1, 28, 5, 9, 3, 31, 20]

# (HF name, GGUF name, shape [rows, columns] or [n], stored type, heads to permute)
TENSORS = [
    ("model.embed_tokens.weight", "token_embd.weight", [VOCAB, HIDDEN], Q.Q8_0, 0),
    ("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", [HIDDEN], Q.F32, 0),
    ("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", [HEADS * HEAD_DIM, HIDDEN], Q.F16, HEADS),
    ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", [KV_HEADS * HEAD_DIM, HIDDEN], Q.Q4_0, KV_HEADS),
    ("model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight", [KV_HEADS * HEAD_DIM, HIDDEN], Q.Q4_1, 0),
    ("model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight", [HIDDEN, HEADS * HEAD_DIM], Q.Q5_0, 0),
    ("model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight", [HIDDEN], Q.F32, 0),
    ("model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight", [FF, HIDDEN], Q.Q5_1, 0),
    ("model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight", [FF, HIDDEN], Q.BF16, 0),
    ("model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight", [HIDDEN, FF], Q.Q4_0, 0),
    ("model.norm.weight", "output_norm.weight", [HIDDEN], Q.F32, 0),
    ("lm_head.weight", "output.weight", [VOCAB, HIDDEN], Q.F32, 0),
]

PIECES = ["<unk>", "<s>", "</s>", "\u2581", "\u2581t", "he", "\u2581the"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
PIECES = PIECES[:VOCAB - 1] + ["<|im_end|>"]
CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|im_end|>{% endfor %}"


def permute(w, heads):
    """HF rotate-half rows to llama.cpp's interleaved pairs (convert_hf_to_gguf's LlamaModel.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, heads):
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main(out_dir: Path):
    rng = np.random.default_rng(15)
    out_dir.mkdir(parents=True, exist_ok=True)
    gguf_path = out_dir / "tiny-llama.gguf"
    w = gguf.GGUFWriter(str(gguf_path), "llama")
    w.add_custom_alignment(64)
    w.add_name("tiny-llama")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(1)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_vocab_size(VOCAB)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(PIECES)
    scores = [0.0, 0.0, 0.0, -3.0, -1.0, -2.0, -0.5] + [-4.0 - i / 8 for i in range(26)]
    scores = scores[:VOCAB - 1] + [-1000.0]
    w.add_token_scores(scores)
    types = [2, 3, 3] + [1] * (VOCAB - 4) + [3]
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    # one key of every value type, for the reader
    w.add_uint8("test.uint8", 200)
    w.add_int8("test.int8", -100)
    w.add_uint16("test.uint16", 60000)
    w.add_int16("test.int16", -30000)
    w.add_uint32("test.uint32", 4000000000)
    w.add_int32("test.int32", -2000000000)
    w.add_uint64("test.uint64", 2**63 + 5)
    w.add_int64("test.int64", -(2**62))
    w.add_float32("test.float32", 0.1)
    w.add_float64("test.float64", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "na\u00efve \u2603")
    w.add_array("test.array_int", [1, -2, 3])
    w.add_array("test.array_string", ["x", "", "\u00e9"])

    expected = {}
    hf_weights = {}
    for hf, name, shape, qtype, heads in TENSORS:
        if len(shape) == 1:
            value = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            value = (0.2 * rng.standard_normal(shape)).astype(np.float32)
        stored = permute(value, heads) if heads else value
        data = quantize(stored, qtype)
        w.add_tensor(name, data, raw_dtype=qtype)
        back = dequantize(data, qtype).astype(np.float32).reshape(shape)
        if heads:
            back = unpermute(back, heads)
        hf_weights[hf] = back
        expected[hf] = {"gguf": name, "type": qtype.name, "shape": shape,
                        "sha256": hashlib.sha256(back.astype("<f4").tobytes()).hexdigest(),
                        "first": [float(x) for x in back.reshape(-1)[:8]]}
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(hidden_size=HIDDEN, intermediate_size=FF, num_hidden_layers=1, num_attention_heads=HEADS,
                         num_key_value_heads=KV_HEADS, vocab_size=VOCAB, max_position_embeddings=CONTEXT,
                         rms_norm_eps=1e-6, rope_theta=500000.0, tie_word_embeddings=False, bos_token_id=1,
                         eos_token_id=2)
    model = LlamaForCausalLM(config).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in hf_weights.items()}, strict=True)
    with torch.no_grad():
        logits = model(torch.tensor([TOKENS])).logits[0].numpy()

    metadata = {}
    reader = gguf.GGUFReader(str(gguf_path))
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name.startswith("tokenizer.ggml.") and field.name != "tokenizer.ggml.model":
            continue   # the header's counts (not keys); the vocabulary, checked through the tokenizer
        entry = {"type": field.types[0].name, "value": field.contents()}
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            entry["element_type"] = field.types[1].name
        metadata[field.name] = entry
    golden = {
        "file": gguf_path.name, "version": 3, "alignment": 64, "metadata": metadata,
        "config": {"hidden_size": HIDDEN, "intermediate_size": FF, "num_hidden_layers": 1, "num_attention_heads": HEADS,
                   "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "vocab_size": VOCAB,
                   "max_position_embeddings": CONTEXT, "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
                   "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2},
        "tokens": PIECES, "chat_template": CHAT_TEMPLATE,
        "tensors": expected,
        "logits": {"tokens": TOKENS, "values": [[float(x) for x in row] for row in logits]},
    }
    (out_dir / "tiny-llama.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(gguf_path, gguf_path.stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "models/src/test/resources/golden/gguf"))
