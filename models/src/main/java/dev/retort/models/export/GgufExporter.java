package dev.retort.models.export;

import dev.retort.autograd.Parameter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.LoraModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.DTypeConversion;
import dev.retort.tensor.Half;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a Llama model directory (+ an optional PEFT LoRA adapter, merged) as one GGUF file that llama.cpp
 * loads, with the keys, tensor names and layouts of llama.cpp's {@code convert_hf_to_gguf.py} for
 * {@code LlamaForCausalLM}:
 * <ul>
 *   <li>keys: general.architecture "llama", general.type "model", general.name (the model directory's name),
 *       the llama.* hyperparameters, general.file_type, the tokenizer ({@link GgufVocabulary}) and
 *       general.quantization_version 2, in the converter's order;
 *   <li>tensors: token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up,
 *       ffn_down}, output_norm and output (absent with tied embeddings: llama.cpp then reads token_embd); the
 *       q and k rows of each head reordered from HF's rotate-half layout (first half of the head's dims, then
 *       second) to llama.cpp's interleaved pairs (row 2i from i, row 2i+1 from i + headDim/2);
 *   <li>types: norms (1-D) always F32; 2-D weights F32, F16, or Q8_0 ({@link Q8Blocks}) — a matrix whose rows
 *       are not a whole number of 32-weight blocks falls back to F16, as the converter does.
 * </ul>
 * Weights are widened to F32 (adapters merged there), permuted, and rounded once to the file's type; one tensor
 * is in memory at a time besides the (memory-mapped) model.
 */
public final class GgufExporter {
    /** The {@code --dtype} of a GGUF export, with llama.cpp's {@code general.file_type} for it. */
    public enum FileType {
        F32(0, GgufWriter.TensorType.F32), F16(1, GgufWriter.TensorType.F16), Q8_0(7, GgufWriter.TensorType.Q8_0);

        final int fileTypeId;
        final GgufWriter.TensorType matrixType;

        FileType(int fileTypeId, GgufWriter.TensorType matrixType) {
            this.fileTypeId = fileTypeId;
            this.matrixType = matrixType;
        }

        /** f32, f16 or q8_0, any case. */
        public static FileType parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "f32" -> F32;
                case "f16" -> F16;
                case "q8_0" -> Q8_0;
                default -> throw new IllegalArgumentException("GGUF --dtype must be f32, f16 or q8_0, got '" + name + "'");
            };
        }
    }

    /** GGML quantisation version written by current llama.cpp. */
    static final int QUANTIZATION_VERSION = 2;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GgufExporter() {}

    /** Exports {@code modelDir} (+ the adapter in {@code adapterDirOrNull}) as the GGUF file {@code outFile}. */
    public static void export(Path modelDir, Path adapterDirOrNull, Path outFile, FileType type) {
        ModelExporter.withModel(modelDir, adapterDirOrNull, (model, lora) -> save(model, lora, modelDir, outFile, type));
    }

    /**
     * Writes an in-memory model (+ its attached, unmerged {@code loraOrNull}, merged on the way out) as the GGUF
     * file {@code outFile}, with the tokenizer of {@code tokenizerDir} and the name of that directory.
     */
    public static void save(LlamaModel model, LoraModel loraOrNull, Path tokenizerDir, Path outFile, FileType type) {
        LlamaConfig c = model.config();
        if (c.ropeScaling() != null) {
            throw new UnsupportedOperationException("GGUF export of Llama 3.1 RoPE scaling (llama.cpp's rope_freqs tensor) is not written yet");
        }
        if (c.attentionBias() || c.mlpBias()) {
            throw new UnsupportedOperationException("GGUF export of Llama layers with biases is not written yet");
        }
        GgufWriter out = new GgufWriter();
        String arch = "llama";
        out.putString("general.architecture", arch);
        out.putString("general.type", "model");
        out.putString("general.name", tokenizerDir.toAbsolutePath().normalize().getFileName().toString());
        out.putUint32(arch + ".block_count", c.numHiddenLayers());
        out.putUint32(arch + ".context_length", c.maxPositionEmbeddings());
        out.putUint32(arch + ".embedding_length", c.hiddenSize());
        out.putUint32(arch + ".feed_forward_length", c.intermediateSize());
        out.putUint32(arch + ".attention.head_count", c.numAttentionHeads());
        out.putUint32(arch + ".attention.head_count_kv", c.numKeyValueHeads());
        out.putFloat32(arch + ".rope.freq_base", (float) c.ropeTheta());
        out.putFloat32(arch + ".attention.layer_norm_rms_epsilon", (float) c.rmsNormEps());
        out.putUint32("general.file_type", type.fileTypeId);
        out.putUint32(arch + ".vocab_size", c.vocabSize());
        out.putUint32(arch + ".rope.dimension_count", c.headDim());
        GgufVocabulary.put(out, tokenizerDir, c.vocabSize());
        out.putUint32("general.quantization_version", QUANTIZATION_VERSION);

        Map<String, Parameter> params = model.namedParameters();
        Map<String, ?> adapters = loraOrNull == null ? Map.of() : loraOrNull.adapters();
        for (String[] names : tensorNames(c, params)) {
            String hf = names[0], gguf = names[1];
            Tensor value = params.get(hf).value();
            String layer = hf.substring(0, hf.length() - ".weight".length());
            LoraModel merge = adapters.containsKey(layer) ? loraOrNull : null;
            int headsToPermute = gguf.endsWith("attn_q.weight") ? c.numAttentionHeads()
                    : gguf.endsWith("attn_k.weight") ? c.numKeyValueHeads() : 0;
            GgufWriter.TensorType tensorType = value.rank() == 1 ? GgufWriter.TensorType.F32
                    : value.dim(1) % type.matrixType.blockElements == 0 ? type.matrixType : GgufWriter.TensorType.F16;
            int[] shape = value.shape();
            long[] dims = new long[shape.length];
            for (int i = 0; i < shape.length; i++) dims[i] = shape[shape.length - 1 - i];
            out.addTensor(gguf, tensorType, dims,
                    arena -> encode(f32(value, merge, layer, arena), headsToPermute, tensorType, arena));
        }
        out.write(outFile);
    }

    /** (HF name, GGUF name) of every tensor, in the order written. */
    static List<String[]> tensorNames(LlamaConfig c, Map<String, Parameter> params) {
        List<String[]> names = new ArrayList<>();
        names.add(new String[] {"model.embed_tokens.weight", "token_embd.weight"});
        String[][] perLayer = {
                {"input_layernorm", "attn_norm"}, {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
                {"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
                {"post_attention_layernorm", "ffn_norm"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
                {"mlp.down_proj", "ffn_down"}};
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            for (String[] m : perLayer) names.add(new String[] {"model.layers." + l + "." + m[0] + ".weight", "blk." + l + "." + m[1] + ".weight"});
        }
        names.add(new String[] {"model.norm.weight", "output_norm.weight"});
        if (!c.tieWordEmbeddings()) names.add(new String[] {"lm_head.weight", "output.weight"});
        for (String[] n : names) {
            if (!params.containsKey(n[0])) throw new IllegalStateException("the model has no parameter '" + n[0] + "' to export");
        }
        return names;
    }

    /** The weight in F32, contiguous, with the adapter merged when {@code mergeOrNull} is given. */
    private static Tensor f32(Tensor value, LoraModel mergeOrNull, String layer, Arena arena) {
        if (mergeOrNull != null) return mergeOrNull.mergedWeight(layer, DType.F32, arena);
        if (value.dtype() == DType.F32 && value.isContiguous()) return value;
        return DTypeConversion.convert(value, DType.F32, arena);
    }

    /**
     * Encodes an F32 tensor [rows × columns] (or [columns]) row by row in {@code type}, taking output row r from
     * source row {@link #sourceRow} when {@code heads} &gt; 0 (the q/k permutation for that many heads).
     */
    static MemorySegment encode(Tensor f32, int heads, GgufWriter.TensorType type, Arena arena) {
        int columns = f32.dim(-1);
        int rows = (int) (f32.size() / columns);
        MemorySegment out = arena.allocate(type.bytes(f32.size()), 8);
        float[] row = new float[columns];
        long rowBytes = type.bytes(columns);
        for (int r = 0; r < rows; r++) {
            int source = heads > 0 ? sourceRow(r, rows / heads) : r;
            MemorySegment.copy(f32.segment(), F32, f32.byteOffset() + (long) source * columns * 4, row, 0, columns);
            long at = r * rowBytes;
            switch (type) {
                case F32 -> MemorySegment.copy(row, 0, out, F32, at, columns);
                case F16 -> {
                    for (int i = 0; i < columns; i++) out.set(I16, at + 2L * i, Half.floatToF16(row[i]));
                }
                case Q8_0 -> {
                    for (int b = 0; b < columns / Q8Blocks.BLOCK; b++) {
                        Q8Blocks.quantizeBlock(row, b * Q8Blocks.BLOCK, out, at + (long) b * Q8Blocks.BLOCK_BYTES);
                    }
                }
            }
        }
        return out;
    }

    /**
     * The HF row that llama.cpp's row {@code r} of a q or k projection holds: within each head of {@code headDim}
     * rows, row 2i + j comes from row j·headDim/2 + i (j = 0, 1), turning rotate-half pairs (i, i + headDim/2)
     * into adjacent pairs (2i, 2i + 1).
     */
    static int sourceRow(int r, int headDim) {
        int head = r / headDim, within = r % headDim;
        return head * headDim + (within % 2) * (headDim / 2) + within / 2;
    }
}
