#!/usr/bin/env python3
"""Reads and checks GGUF files with llama.cpp's own gguf-py (pip package `gguf`).

  dump FILE                        metadata and tensor table
  compare A B                      every key (type, value) and tensor (type, shape, bytes) of A against B
  check FILE --model DIR           tensors against the HF weights of DIR after llama.cpp's q/k permutation,
                                   within the file type's rounding (F32 exact, F16 = numpy's cast, Q8_0 = gguf-py's)
  reference --model DIR --dtype T --out FILE
                                   writes the GGUF that convert_hf_to_gguf.py's steps give for a Llama with a
                                   SentencePiece tokenizer, built from gguf-py's GGUFWriter, SpecialVocab and quants
                                   (tensor order: Retort's; general.name: the directory name; no size_label)
  golden --model DIR --out JSON    the golden file of Retort's GgufGoldenTest: for f32, f16 and q8_0 the reference
                                   file's sha256 and size, each key's sha256 (type + value bytes), each tensor's
                                   type, dims, offset and data sha256; plus Q8_0 blocks of edge-case inputs
Needs numpy, safetensors, sentencepiece and gguf (e.g. pip install gguf sentencepiece safetensors).
"""
import argparse
import hashlib
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

LAYER_MAP = [("input_layernorm", "attn_norm"), ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
             ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
             ("post_attention_layernorm", "ffn_norm"), ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"),
             ("mlp.down_proj", "ffn_down")]
FILE_TYPES = {"f32": (gguf.LlamaFileType.ALL_F32, Q.F32), "f16": (gguf.LlamaFileType.MOSTLY_F16, Q.F16),
              "q8_0": (gguf.LlamaFileType.MOSTLY_Q8_0, Q.Q8_0)}


def hf_weights(model_dir: Path) -> dict:
    from safetensors.numpy import load_file
    weights = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        weights.update(load_file(str(f)))
    return weights


def names(hp: dict) -> list:
    """(HF name, GGUF name) in the order Retort writes them."""
    out = [("model.embed_tokens.weight", "token_embd.weight")]
    for layer in range(hp["num_hidden_layers"]):
        out += [(f"model.layers.{layer}.{hf}.weight", f"blk.{layer}.{g}.weight") for hf, g in LAYER_MAP]
    out.append(("model.norm.weight", "output_norm.weight"))
    if not hp.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", "output.weight"))
    return out


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """HF rotate-half rows to llama.cpp's interleaved pairs, per head (convert_hf_to_gguf's LlamaModel.permute)."""
    head_dim = w.shape[0] // heads
    return w.reshape(heads, 2, head_dim // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_cpp_weights(model_dir: Path, hp: dict):
    """(GGUF name, F32 array as llama.cpp wants it) for every tensor."""
    weights = hf_weights(model_dir)
    kv_heads = hp.get("num_key_value_heads", hp["num_attention_heads"])
    for hf, g in names(hp):
        w = weights[hf].astype(np.float32)
        if g.endswith("attn_q.weight"):
            w = permute(w, hp["num_attention_heads"])
        elif g.endswith("attn_k.weight"):
            w = permute(w, kv_heads)
        yield g, w


def sentencepiece_vocab(model_dir: Path, vocab_size: int):
    """convert_hf_to_gguf's _create_vocab_sentencepiece, restated."""
    from sentencepiece import SentencePieceProcessor
    sp = SentencePieceProcessor()
    sp.LoadFromFile(str(model_dir / "tokenizer.model"))
    tokens = [f"[PAD{i}]".encode() for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [gguf.TokenType.UNUSED] * vocab_size
    for i in range(min(sp.vocab_size(), vocab_size)):
        t = gguf.TokenType.NORMAL
        if sp.IsUnknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.IsControl(i):
            t = gguf.TokenType.CONTROL
        elif sp.IsUnused(i):
            t = gguf.TokenType.UNUSED
        elif sp.IsByte(i):
            t = gguf.TokenType.BYTE
        tokens[i], scores[i], types[i] = sp.IdToPiece(i).encode(), sp.GetScore(i), t
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        for key, data in json.loads(config.read_text()).get("added_tokens_decoder", {}).items():
            i, text = int(key), data["content"]
            special = data.get("special") or (text.startswith("<|") and text.endswith("|>"))
            types[i] = gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED
            if not special:
                text = text.replace("\u2581", " ")
            scores[i], tokens[i] = -1000.0, text.encode()
    return tokens, scores, types


def write_reference(model_dir: Path, dtype: str, out: Path) -> None:
    hp = json.loads((model_dir / "config.json").read_text())
    ftype, matrix_type = FILE_TYPES[dtype]
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_type("model")
    w.add_name(model_dir.resolve().name)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(hp.get("num_key_value_heads", hp["num_attention_heads"]))
    w.add_rope_freq_base(hp.get("rope_theta", 10000.0))
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    w.add_file_type(ftype)
    w.add_vocab_size(hp["vocab_size"])
    w.add_rope_dimension_count(hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
    tokens, scores, types = sentencepiece_vocab(model_dir, hp["vocab_size"])
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, data in llama_cpp_weights(model_dir, hp):
        qtype = Q.F32 if data.ndim <= 1 or name.endswith("_norm.weight") else matrix_type
        try:
            encoded = gguf.quants.quantize(data, qtype)
        except gguf.QuantError:
            qtype, encoded = Q.F16, gguf.quants.quantize(data, Q.F16)
        w.add_tensor(name, encoded, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def field_value(f):
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]) for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]].tolist()[0]


def value_bytes(f) -> bytes:
    """The field's u32 type and value as stored (parts after key length and key)."""
    return b"".join(p.tobytes() for p in f.parts[2:])


def dump(path: Path) -> None:
    r = gguf.GGUFReader(str(path))
    for f in r.fields.values():
        v = field_value(f)
        shown = (f"[{len(v)}] {v[:5]}..." if isinstance(v, list) and len(v) > 5 else v)
        print(f"{f.name:45s} {'/'.join(t.name for t in f.types):16s} {shown}")
    for t in r.tensors:
        print(f"{t.name:28s} {t.tensor_type.name:5s} dims={list(t.shape)} offset={t.data_offset} bytes={t.n_bytes}")


def compare(a: Path, b: Path) -> int:
    ra, rb = gguf.GGUFReader(str(a)), gguf.GGUFReader(str(b))
    bad = 0
    ka, kb = list(ra.fields), list(rb.fields)
    if ka != kb:
        print(f"key order differs:\n  {ka}\n  {kb}")
        bad += 1
    for k in ka:
        if k in rb.fields and value_bytes(ra.fields[k]) != value_bytes(rb.fields[k]):
            print(f"key {k} differs: {field_value(ra.fields[k])!r:.200} vs {field_value(rb.fields[k])!r:.200}")
            bad += 1
    tb = {t.name: t for t in rb.tensors}
    for t in ra.tensors:
        u = tb.get(t.name)
        if u is None or t.tensor_type != u.tensor_type or list(t.shape) != list(u.shape) or t.data_offset != u.data_offset:
            print(f"tensor {t.name}: {t.tensor_type.name} {list(t.shape)} @{t.data_offset} vs "
                  + ("missing" if u is None else f"{u.tensor_type.name} {list(u.shape)} @{u.data_offset}"))
            bad += 1
        elif t.data.tobytes() != u.data.tobytes():
            da = gguf.quants.dequantize(t.data, t.tensor_type)
            db = gguf.quants.dequantize(u.data, u.tensor_type)
            print(f"tensor {t.name}: data differs, max |diff| {np.max(np.abs(da - db)):.3g}")
            bad += 1
    print(f"{len(ka)} keys, {len(ra.tensors)} tensors compared: " + ("identical" if bad == 0 else f"{bad} differences"))
    return 1 if bad else 0


def check(path: Path, model_dir: Path) -> int:
    hp = json.loads((model_dir / "config.json").read_text())
    r = gguf.GGUFReader(str(path))
    tensors = {t.name: t for t in r.tensors}
    bad = 0
    for name, want in llama_cpp_weights(model_dir, hp):
        t = tensors.pop(name, None)
        if t is None:
            print(f"{name}: missing")
            bad += 1
            continue
        got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(want.shape)
        exact = gguf.quants.dequantize(gguf.quants.quantize(want, t.tensor_type), t.tensor_type).reshape(want.shape)
        err = float(np.max(np.abs(got - want)))
        same = np.array_equal(got.view(np.uint32), exact.view(np.uint32))
        print(f"{name:28s} {t.tensor_type.name:5s} max |file - hf| {err:.3g}  equal to gguf-py's rounding: {same}")
        bad += 0 if same else 1
    for name in tensors:
        print(f"{name}: unexpected tensor")
        bad += 1
    print("OK" if bad == 0 else f"{bad} problems")
    return 1 if bad else 0


EDGE_BLOCKS = {
    "zeros": [0.0] * 32,
    "ramp": [i / 7.0 - 2.0 for i in range(32)],
    "negatives_and_ties": [-127.0, 63.5, -63.5, 0.5, -0.5, 1.5, -1.5, 2.5] + [1.0] * 24,
    "max_at_127": [127.0] + [i * 0.75 for i in range(31)],
    "subnormal_max": [1e-40, -5e-41] + [0.0] * 30,
    "tiny_normal": [1e-30 * (i - 16) for i in range(32)],
    "huge": [3e38, -3e38] + [1.0] * 30,
    "f16_overflow_scale": [70000.0 * 127] + [1.0] * 31,
    "infinity": [float("inf")] + [1.0] * 31,
    "nan": [float("nan")] + [1.0] * 31,
}


def golden(model_dir: Path, out: Path) -> None:
    import tempfile
    from importlib.metadata import version
    result = {"model": model_dir.resolve().name, "made_by": f"tools/gguf/read_gguf.py golden, gguf-py {version('gguf')}",
              "exports": {}, "q8_0_blocks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in FILE_TYPES:
            path = Path(tmp) / f"{dtype}.gguf"
            write_reference(model_dir, dtype, path)
            r = gguf.GGUFReader(str(path))
            raw = path.read_bytes()
            result["exports"][dtype] = {
                "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw),
                "keys": [[f.name, hashlib.sha256(value_bytes(f)).hexdigest()] for f in r.fields.values()
                         if not f.name.startswith("GGUF.")],
                "tensors": [[t.name, t.tensor_type.name, [int(d) for d in t.shape], int(t.data_offset) - int(r.data_offset),
                             hashlib.sha256(t.data.tobytes()).hexdigest()] for t in r.tensors],
            }
    for label, values in EDGE_BLOCKS.items():
        arr = np.array(values, dtype=np.float32).reshape(1, 32)
        with np.errstate(all="ignore"):
            q = gguf.quants.quantize(arr, Q.Q8_0)
        result["q8_0_blocks"][label] = {"input_f32_bits": [f"{struct.unpack('<I', struct.pack('<f', v))[0]:08x}" for v in arr[0]],
                                        "block": q.tobytes().hex()}
    # one key, tensor or block per line: small, and a diff shows which one changed
    text = json.dumps(result, indent=1)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    out.write_text(text + "\n")
    print(f"wrote {out}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dump").add_argument("file", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    k = sub.add_parser("check")
    k.add_argument("file", type=Path)
    k.add_argument("--model", type=Path, required=True)
    ref = sub.add_parser("reference")
    ref.add_argument("--model", type=Path, required=True)
    ref.add_argument("--dtype", choices=list(FILE_TYPES), required=True)
    ref.add_argument("--out", type=Path, required=True)
    g = sub.add_parser("golden")
    g.add_argument("--model", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.cmd == "dump":
        dump(a.file)
    elif a.cmd == "compare":
        return compare(a.a, a.b)
    elif a.cmd == "check":
        return check(a.file, a.model)
    elif a.cmd == "reference":
        write_reference(a.model, a.dtype, a.out)
    else:
        golden(a.model, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
