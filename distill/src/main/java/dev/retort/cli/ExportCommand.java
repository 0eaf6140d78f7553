package dev.retort.cli;

import dev.retort.models.export.ModelExporter;
import dev.retort.tensor.DType;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort export --model DIR [--adapter DIR] --out DIR}: merges a LoRA adapter (PEFT layout) into the
 * model and writes a Hugging Face model directory that {@code retort generate} and HF tools load.
 */
@Command(name = "export", mixinStandardHelpOptions = true, description = "Merge an adapter and write a Hugging Face model directory.")
final class ExportCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Base model directory.")
    Path model;
    @Option(names = "--adapter", description = "LoRA adapter directory (adapter_model.safetensors + adapter_config.json).")
    Path adapter;
    @Option(names = "--out", required = true, description = "New directory to write (must not exist or be empty).")
    Path out;
    @Option(names = "--dtype", defaultValue = "f32", description = "f32, bf16 or f16 (default ${DEFAULT-VALUE}).")
    String dtype;

    @Override
    public Integer call() {
        DType type = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("--dtype must be f32, bf16 or f16, got '" + dtype + "'");
        };
        ModelExporter.export(model, adapter, out, type);
        System.out.println("exported " + (adapter == null ? model : model + " + " + adapter) + " to " + out);
        return 0;
    }
}
