package dev.retort.models.export;

import dev.retort.autograd.Parameter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DTypeConversion;
import dev.retort.models.lora.LoraAdapter;
import dev.retort.models.lora.LoraModel;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Writes a Hugging Face model directory from a model directory and, optionally, a PEFT LoRA adapter merged into
 * it: {@code model.safetensors} in the dtype asked for (HF names; with tied embeddings the embedding is written
 * once and no {@code lm_head.weight}, as transformers saves it), {@code config.json} with {@code torch_dtype}
 * updated, and the tokenizer and generation files copied when present.
 *
 * <p>The base model is loaded frozen, in place (memory-mapped, any dtype); merged weights are computed one layer
 * at a time as W + scale·B·A in F32 and rounded once to the output dtype. Everything is written into a
 * temporary sibling of {@code outDir}, which is renamed to {@code outDir} at the end, so a failed export leaves
 * no half-written model behind.
 */
public final class ModelExporter {
    /** Files copied unchanged from the model directory when they exist. */
    public static final List<String> COPIED_FILES = List.of("tokenizer.json", "tokenizer_config.json", "tokenizer.model",
            "special_tokens_map.json", "generation_config.json");

    private ModelExporter() {}

    /**
     * Exports {@code modelDir} (+ the adapter in {@code adapterDirOrNull}) to {@code outDir} in {@code dtype}
     * (F32, BF16 or F16). {@code outDir} must not exist, or be an empty directory.
     */
    public static void export(Path modelDir, Path adapterDirOrNull, Path outDir, DType dtype) {
        withModel(modelDir, adapterDirOrNull, (model, lora) -> save(model, lora, modelDir, outDir, dtype));
    }

    /** What an export does with the opened model and its attached adapter (null without one). */
    @FunctionalInterface
    interface Save {
        void save(LlamaModel model, LoraModel loraOrNull);
    }

    /**
     * Opens {@code modelDir} (weights in place), attaches the PEFT adapter in {@code adapterDirOrNull} if given, runs
     * {@code save}, and frees it all: the opening every export format shares.
     */
    static void withModel(Path modelDir, Path adapterDirOrNull, Save save) {
        LlamaConfig config = LlamaConfig.read(modelDir);
        try (ModelWeights weights = ModelWeights.open(modelDir); Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.load(config, weights, arena, false);
            LoraModel lora = adapterDirOrNull == null ? null : PeftAdapter.load(adapterDirOrNull, model);
            try {
                save.save(model, lora);
            } finally {
                if (lora != null) lora.detach();   // frees A and B
            }
        }
    }

    /**
     * Writes an in-memory model (+ its attached, unmerged {@code loraOrNull}, merged on the way out) as a Hugging
     * Face directory {@code outDir}, copying the tokenizer and generation files found in {@code filesFromDir} (a
     * GGUF file's tokenizer is written as {@code tokenizer.model} and {@code tokenizer_config.json}).
     * {@code outDir} must not exist, or be an empty directory; it appears complete or not at all.
     */
    public static void save(LlamaModel model, LoraModel loraOrNull, Path filesFromDir, Path outDir, DType dtype) {
        if (dtype == DType.I8) throw new IllegalArgumentException("export dtype must be F32, BF16 or F16, got I8");
        Path out = outDir.toAbsolutePath().normalize();
        requireFreshTarget(out);
        Path temp = out.resolveSibling("." + out.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean moved = false;
        try {
            Files.createDirectories(temp);
            writeWeights(temp.resolve(ModelWeights.SINGLE_FILE), model, loraOrNull, dtype);
            model.config().withTorchDtype(dtype).write(temp.resolve(LlamaConfig.FILE_NAME));
            for (String name : COPIED_FILES) {
                Path source = filesFromDir.resolve(name);
                if (Files.isRegularFile(source)) Files.copy(source, temp.resolve(name));
            }
            if (dev.retort.models.gguf.GgufFile.isGguf(filesFromDir)) dev.retort.models.gguf.GgufModel.writeTokenizerFiles(filesFromDir, temp);
            moveIntoPlace(temp, out);
            moved = true;
        } catch (IOException e) {
            throw new ModelFileException(out, "cannot write the exported model: " + e, e);
        } finally {
            if (!moved) deleteRecursively(temp);
        }
    }

    /** Every parameter of the model once (the tied LM head is the embedding), merged where an adapter is. */
    private static void writeWeights(Path file, LlamaModel model, LoraModel lora, DType dtype) {
        try (Arena converted = Arena.ofShared()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Map<String, LoraAdapter> adapters = lora == null ? Map.of() : lora.adapters();
            for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                String name = e.getKey();
                Tensor value = e.getValue().value();
                String layer = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
                if (layer != null && adapters.containsKey(layer)) {
                    tensors.put(name, lora.mergedWeight(layer, dtype, converted));
                } else {
                    tensors.put(name, value.dtype() == dtype ? value : DTypeConversion.convert(value, dtype, converted));
                }
            }
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        }
    }


    private static void requireFreshTarget(Path out) {
        if (!Files.exists(out)) return;
        if (!Files.isDirectory(out)) throw new ModelFileException(out, "exists and is not a directory; choose a new output directory");
        try (Stream<Path> entries = Files.list(out)) {
            if (entries.findAny().isPresent()) {
                throw new ModelFileException(out, "exists and is not empty; export writes a new directory and never overwrites one");
            }
        } catch (IOException e) {
            throw new ModelFileException(out, "cannot list: " + e, e);
        }
    }

    /** Renames the finished temporary directory to {@code out} (replacing an empty directory there). */
    private static void moveIntoPlace(Path temp, Path out) throws IOException {
        try {
            Files.deleteIfExists(out);   // only ever an empty directory here (checked before the export began)
        } catch (DirectoryNotEmptyException e) {
            throw new ModelFileException(out, "was filled by someone else during the export; the export is left unfinished", e);
        }
        try {
            Files.move(temp, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, out);
        }
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort: a leftover hidden temporary directory is harmless, the original error matters more
        }
    }
}
