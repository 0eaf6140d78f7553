package dev.retort.models.gguf;

import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.hf.SafetensorsDType;
import dev.retort.models.hf.TensorInfo;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tensors of a Llama GGUF file seen under their Hugging Face names, as {@link ModelWeights}, so that every
 * loader of a model directory loads a GGUF file the same way. What llama.cpp's converter did is undone:
 * <ul>
 *   <li>names: token_embd → model.embed_tokens, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output,
 *       ffn_norm, ffn_gate, ffn_up, ffn_down} → model.layers.N.{input_layernorm, self_attn.q_proj, …,
 *       mlp.down_proj}, output_norm → model.norm, output → lm_head (weights and biases alike); any other tensor
 *       is refused in one line;
 *   <li>the q and k rows (and biases) of each head are put back from llama.cpp's interleaved pairs to HF's
 *       rotate-half order (the inverse of {@link dev.retort.models.export.GgufExporter}'s permutation).
 * </ul>
 * Types: F32, F16 and BF16 tensors are zero-copy views of the mapped file (a permuted q/k a copy in the same
 * type); Q4_0, Q4_1, Q5_0 and Q5_1 are dequantised to F32 copies ({@link GgmlBlocks}) when first asked for,
 * held until {@link #close()}. Q8_0 is dequantised the same way when opened for training ({@link #open(Path)}),
 * and kept in place as {@link DType#Q8_0} tensors when opened for inference ({@link #open(Path, boolean)}), where
 * the int8 kernels read it (a permuted q/k a copy of its rows' blocks). Other ggml types (the K-quants, IQ*) are
 * refused at open.
 */
public final class GgufWeights implements ModelWeights {
    private static final Map<String, String> LAYER_PARTS = Map.of(
            "attn_norm", "input_layernorm", "attn_q", "self_attn.q_proj", "attn_k", "self_attn.k_proj",
            "attn_v", "self_attn.v_proj", "attn_output", "self_attn.o_proj", "ffn_norm", "post_attention_layernorm",
            "ffn_gate", "mlp.gate_proj", "ffn_up", "mlp.up_proj", "ffn_down", "mlp.down_proj");
    private static final Pattern LAYER = Pattern.compile("blk\\.(0|[1-9][0-9]{0,5})\\.([a-z_]+)\\.(weight|bias)");

    private final GgufFile file;
    private final Map<String, GgufFile.TensorEntry> byHfName;
    private final Map<String, Integer> permutedHeads;   // HF name -> heads, for q and k
    private final SortedSet<String> names;
    private final Arena arena = Arena.ofShared();
    private final Map<String, Tensor> loaded = new HashMap<>();
    private final boolean q8InPlace;
    private boolean closed;

    private GgufWeights(GgufFile file, boolean q8InPlace) {
        this.file = file;
        this.q8InPlace = q8InPlace;
        int heads = file.uint("llama.attention.head_count", 0);
        int kvHeads = file.uint("llama.attention.head_count_kv", heads);
        Map<String, GgufFile.TensorEntry> map = new LinkedHashMap<>();
        Map<String, Integer> permuted = new HashMap<>();
        for (GgufFile.TensorEntry t : file.tensors().values()) {
            String hf = hfName(t.name());
            if (hf == null) {
                throw new ModelFileException(file.path(), "tensor " + GgufFile.quote(t.name()) + " is not one of a Llama's"
                        + (t.name().equals("rope_freqs.weight") ? " that Retort reads (Llama 3.1 RoPE scaling from a GGUF file is not read yet)"
                        : " (token_embd, blk.N.attn_*/ffn_*, output_norm, output)"));
            }
            if (!t.type().readable()) {
                throw new ModelFileException(file.path(), "tensor " + GgufFile.quote(t.name()) + " is " + t.type()
                        + ", which Retort does not read yet (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1)");
            }
            map.put(hf, t);
            int h = t.name().contains(".attn_q.") ? heads : t.name().contains(".attn_k.") ? kvHeads : 0;
            if (h > 0 || t.name().contains(".attn_q.") || t.name().contains(".attn_k.")) {
                long rows = t.dims()[t.dims().length - 1];
                if (h <= 0 || rows % h != 0 || rows / h % 2 != 0) {
                    throw new ModelFileException(file.path(), "tensor " + GgufFile.quote(t.name()) + " has " + rows
                            + " rows, not an even head dimension times the head count " + h + " (llama.attention.head_count"
                            + (t.name().contains(".attn_k.") ? "_kv" : "") + ")");
                }
                permuted.put(hf, h);
            }
        }
        this.byHfName = Collections.unmodifiableMap(map);
        this.permutedHeads = permuted;
        this.names = Collections.unmodifiableSortedSet(new TreeSet<>(map.keySet()));
    }

    /** Opens, maps and validates a GGUF file as Llama weights under HF names, every quantised type dequantised. */
    public static GgufWeights open(Path path) {
        return open(path, false);
    }

    /**
     * As {@link #open(Path)}; with {@code q8InPlace} Q8_0 tensors stay Q8_0 in the mapped file (inference: the
     * int8 kernels read them, a quarter of F32's bytes), otherwise they are dequantised to F32 (training).
     */
    public static GgufWeights open(Path path, boolean q8InPlace) {
        GgufFile file = GgufFile.open(path);
        try {
            return new GgufWeights(file, q8InPlace);
        } catch (RuntimeException | Error e) {
            file.close();
            throw e;
        }
    }

    /** The Hugging Face name of a llama.cpp tensor name, or null when it is not one of a Llama's. */
    public static String hfName(String gguf) {
        switch (gguf) {
            case "token_embd.weight": return "model.embed_tokens.weight";
            case "output_norm.weight": return "model.norm.weight";
            case "output.weight": return "lm_head.weight";
            default:
        }
        Matcher m = LAYER.matcher(gguf);
        if (!m.matches()) return null;
        String part = LAYER_PARTS.get(m.group(2));
        if (part == null || (m.group(3).equals("bias") && part.endsWith("norm"))) return null;
        return "model.layers." + m.group(1) + "." + part + "." + m.group(3);
    }

    /** The file underneath (metadata, raw tensor entries). */
    public GgufFile file() {
        return file;
    }

    /** The file's entry of the tensor called {@code hfName} here. */
    public GgufFile.TensorEntry entry(String hfName) {
        GgufFile.TensorEntry t = byHfName.get(hfName);
        if (t == null) {
            throw new ModelFileException(file.path(), "no tensor for '" + hfName + "' (GGUF tensors: " + file.tensors().size() + ")");
        }
        return t;
    }

    /**
     * The dtype {@link #tensor} hands out for a stored type: F32, F16 and BF16 as stored, Q8_0 as stored when
     * {@code q8InPlace}, other quantised types as F32.
     */
    public static DType exposedType(GgmlType type, boolean q8InPlace) {
        return switch (type) {
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            case Q8_0 -> q8InPlace ? DType.Q8_0 : DType.F32;
            default -> DType.F32;
        };
    }

    private DType exposedType(GgmlType type) {
        return exposedType(type, q8InPlace);
    }

    /** Bytes the tensors take once loaded: mapped ones as stored, dequantised ones at 4 bytes a weight. */
    public long loadedBytes() {
        long total = 0;
        for (GgufFile.TensorEntry t : byHfName.values()) total += exposedType(t.type()).byteSize(t.elements());
        return total;
    }

    @Override
    public SortedSet<String> names() {
        return names;
    }

    @Override
    public boolean contains(String name) {
        return byHfName.containsKey(name);
    }

    /** The tensor as {@link #tensor} hands it out: its dtype, its row-major shape and [0, its byte size). */
    @Override
    public TensorInfo info(String name) {
        GgufFile.TensorEntry t = entry(name);
        DType type = exposedType(t.type());
        if (type.isBlock()) {
            throw new ModelFileException(file.path(), "tensor '" + name + "' is Q8_0 kept in place, which safetensors has no type for");
        }
        return new TensorInfo(name, SafetensorsDType.of(type), t.shape(), 0, type.byteSize(t.elements()));
    }

    @Override
    public synchronized Tensor tensor(String name) {
        if (closed) throw new IllegalStateException(file.path() + " is closed");
        Tensor t = loaded.get(name);
        if (t == null) {
            t = load(name, entry(name));
            loaded.put(name, t);
        }
        return t;
    }

    private Tensor load(String name, GgufFile.TensorEntry t) {
        int[] shape = t.shape();
        MemorySegment stored = file.data(t);
        DType type = exposedType(t.type());
        Integer heads = permutedHeads.get(name);
        boolean inPlace = type != DType.F32 || t.type() == GgmlType.F32;   // stored bytes are the exposed bytes
        if (inPlace && heads == null) return Tensor.wrap(type == DType.Q8_0 ? nativeAlias(stored) : stored, type, shape);

        int columns = (int) t.dims()[0];
        int rows = (int) (t.elements() / columns);
        int headDim = heads == null ? 0 : rows / heads;
        long storedRowBytes = columns / t.type().blockElements * (long) t.type().blockBytes;
        Tensor out = Tensor.zeros(arena, type, shape);
        long outRowBytes = type.byteSize(columns);
        float[] row = inPlace ? null : new float[columns];
        for (int r = 0; r < rows; r++) {
            int target = heads == null ? r : hfRow(r, headDim);
            long from = r * storedRowBytes, to = out.byteOffset() + target * outRowBytes;
            if (inPlace) {
                MemorySegment.copy(stored, from, out.segment(), to, storedRowBytes);
            } else {
                GgmlBlocks.toF32(t.type(), stored, from, columns, row);
                MemorySegment.copy(row, 0, out.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), to, columns);
            }
        }
        return out;
    }

    /**
     * The mapped bytes seen as a plain native segment of this object's arena (so it dies at {@link #close()},
     * before the file is unmapped). Why: the int8 kernel ran about ten times slower (1 against 10-13 GB/s, a
     * 2048 x 768 matvec) once it had seen both a mapped segment and a native one (the permuted q/k copies) — C2's
     * compiled Vector API loads degrade when the segment's class varies — so every Q8_0 weight is handed out as
     * the same kind of segment.
     */
    private MemorySegment nativeAlias(MemorySegment mapped) {
        return MemorySegment.ofAddress(mapped.address()).reinterpret(mapped.byteSize(), arena, null);
    }

    /**
     * The HF row that llama.cpp's row {@code r} of a q or k projection came from: within each head of
     * {@code headDim} rows, row 2i + j came from row j·headDim/2 + i (j = 0, 1).
     */
    static int hfRow(int r, int headDim) {
        int head = r / headDim, within = r % headDim;
        return head * headDim + (within % 2) * (headDim / 2) + within / 2;
    }

    /** The tensor's bytes as {@link #tensor} hands it out (HF layout, exposed dtype). */
    @Override
    public MemorySegment bytes(String name) {
        Tensor t = tensor(name);
        return t.segment().asSlice(t.byteOffset(), t.dtype().byteSize(t.size()));
    }

    /** Frees the dequantised copies and unmaps the file; closing again does nothing. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        loaded.clear();
        arena.close();
        file.close();
    }

    @Override
    public String toString() {
        return "GgufWeights[" + file.path() + ", " + byHfName.size() + " tensors]";
    }
}
