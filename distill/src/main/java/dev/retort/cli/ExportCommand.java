package dev.retort.cli;

import dev.retort.models.export.GgufExporter;
import dev.retort.models.export.ModelExporter;
import dev.retort.tensor.DType;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort export --model DIR [--adapter DIR] --out DIR|FILE [--format hf|gguf] [--dtype ...]}: merges a
 * LoRA adapter (PEFT layout) into the model and writes either a Hugging Face model directory that
 * {@code retort generate} and HF tools load, or one GGUF file that llama.cpp loads.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Merge an adapter and write a Hugging Face model directory or a GGUF file.")
final class ExportCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Base model directory.")
    Path model;
    @Option(names = "--adapter", description = "LoRA adapter directory (adapter_model.safetensors + adapter_config.json).")
    Path adapter;
    @Option(names = "--out", required = true,
            description = "hf: new directory to write (must not exist or be empty); gguf: the .gguf file to write (replaced if it exists).")
    Path out;
    @Option(names = "--format", defaultValue = "hf", description = "hf (a Hugging Face directory) or gguf (llama.cpp); default ${DEFAULT-VALUE}.")
    String format;
    @Option(names = "--dtype", defaultValue = "f32", description = "hf: f32, bf16 or f16; gguf: f32, f16 or q8_0 (default ${DEFAULT-VALUE}).")
    String dtype;

    @Override
    public Integer call() {
        switch (format.toLowerCase(Locale.ROOT)) {
            case "hf" -> ModelExporter.export(model, adapter, out, hfDtype());
            case "gguf" -> GgufExporter.export(model, adapter, out, GgufExporter.FileType.parse(dtype));
            default -> throw new IllegalArgumentException("--format must be hf or gguf, got '" + format + "'");
        }
        System.out.println("exported " + (adapter == null ? model : model + " + " + adapter) + " to " + out);
        return 0;
    }

    private DType hfDtype() {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("--dtype must be f32, bf16 or f16 for --format hf, got '" + dtype + "'");
        };
    }
}
