#!/usr/bin/python3
"""Golden files for Retort's Llama tests, computed with PyTorch (Debian's python3-torch).

For a few tiny random Llamas (GQA, tied and untied embeddings, llama3 RoPE scaling) this writes, under
models/src/test/resources/golden/<name>/:
  config.json          the Hugging Face config
  model.safetensors    the weights (F32), Hugging Face names
  golden.safetensors   logits [B, T, V]; loss (mean next-token cross-entropy); grad.<name> for every parameter
  tokens.json          the input ids [B][T]
The model is written out here in plain PyTorch, following transformers' LlamaForCausalLM line by line
(RMSNorm in float32, rotate-half RoPE with inv_freq = 1/theta^(2i/d), llama3 frequency scaling, repeat_kv for
GQA, SwiGLU MLP), so the Java tests need neither Python nor transformers.

Run from the project root:  /usr/bin/python3 tools/golden/make_llama_golden.py
"""
import json, math, os, struct
import torch

OUT = os.path.join("models", "src", "test", "resources", "golden")

MODELS = {
    "gqa-untied": dict(hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2,
                       num_hidden_layers=2, vocab_size=67, rms_norm_eps=1e-5, rope_theta=10000.0,
                       tie_word_embeddings=False, max_position_embeddings=64, rope_scaling=None),
    "mha-tied": dict(hidden_size=24, intermediate_size=40, num_attention_heads=3, num_key_value_heads=3,
                     num_hidden_layers=2, vocab_size=50, rms_norm_eps=1e-6, rope_theta=10000.0,
                     tie_word_embeddings=True, max_position_embeddings=64, rope_scaling=None),
    "llama3-rope": dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=1,
                        num_hidden_layers=3, vocab_size=71, rms_norm_eps=1e-5, rope_theta=500000.0,
                        tie_word_embeddings=True, max_position_embeddings=128,
                        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                          high_freq_factor=4.0, original_max_position_embeddings=16)),
}
BATCH, SEQ = 2, 12


def inv_freq(cfg):
    d = cfg["hidden_size"] // cfg["num_attention_heads"]
    f = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    s = cfg["rope_scaling"]
    if s is None:
        return f
    factor, low, high, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / f
    scaled = torch.where(wavelen > low_wavelen, f / factor, f)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, p, ids):
    b, t = ids.shape
    c, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = c // nh
    x = p["model.embed_tokens.weight"][ids]
    pos = torch.arange(t).float()
    freqs = torch.outer(pos, inv_freq(cfg))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    mask = torch.full((t, t), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"], cfg["rms_norm_eps"])
        q = (h @ p[pre + "self_attn.q_proj.weight"].T).view(b, t, nh, d).transpose(1, 2)
        k = (h @ p[pre + "self_attn.k_proj.weight"].T).view(b, t, nkv, d).transpose(1, 2)
        v = (h @ p[pre + "self_attn.v_proj.weight"].T).view(b, t, nkv, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(b, t, c)
        x = x + o @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], cfg["rms_norm_eps"])
        g = torch.nn.functional.silu(h @ p[pre + "mlp.gate_proj.weight"].T)
        x = x + (g * (h @ p[pre + "mlp.up_proj.weight"].T)) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], cfg["rms_norm_eps"])
    head = p["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else p["lm_head.weight"]
    return x @ head.T


def init_params(cfg, gen):
    c, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    d = c // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * d
    shapes = {"model.embed_tokens.weight": (v, c)}
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        shapes.update({pre + "self_attn.q_proj.weight": (c, c), pre + "self_attn.k_proj.weight": (kv, c),
                       pre + "self_attn.v_proj.weight": (kv, c), pre + "self_attn.o_proj.weight": (c, c),
                       pre + "mlp.gate_proj.weight": (i, c), pre + "mlp.up_proj.weight": (i, c),
                       pre + "mlp.down_proj.weight": (c, i), pre + "input_layernorm.weight": (c,),
                       pre + "post_attention_layernorm.weight": (c,)})
    shapes["model.norm.weight"] = (c,)
    if not cfg["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (v, c)
    params = {}
    for name, shape in shapes.items():
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = torch.randn(shape, generator=gen) * (0.5 / math.sqrt(shape[-1]))
        params[name] = t.float().requires_grad_(True)
    return params


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        data = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(0)
    for name, cfg in MODELS.items():
        gen = torch.Generator().manual_seed(sum(map(ord, name)))
        params = init_params(cfg, gen)
        ids = torch.randint(0, cfg["vocab_size"], (BATCH, SEQ), generator=gen)
        logits = forward(cfg, params, ids)
        v = cfg["vocab_size"]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1))
        loss.backward()
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        config = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
                      attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2,
                      torch_dtype="float32", head_dim=cfg["hidden_size"] // cfg["num_attention_heads"], **cfg)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        write_safetensors(os.path.join(out, "model.safetensors"), params, {"format": "pt"})
        golden = {"logits": logits, "loss": loss.reshape(1)}
        for pname, p in params.items():
            golden["grad." + pname] = p.grad
        write_safetensors(os.path.join(out, "golden.safetensors"), golden)
        with open(os.path.join(out, "tokens.json"), "w") as f:
            json.dump(ids.tolist(), f)
        print(f"{name}: loss {loss.item():.6f}, {sum(p.numel() for p in params.values())} parameters")


if __name__ == "__main__":
    main()
