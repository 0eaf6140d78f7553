/**
 * Writing models: {@link dev.retort.models.export.ModelExporter} turns a model directory plus an optional PEFT
 * adapter into a plain Hugging Face model directory, the adapter merged, in F32, BF16 or F16;
 * {@link dev.retort.models.export.GgufExporter} writes the same as one GGUF file for llama.cpp, in F32, F16 or Q8_0.
 */
package dev.retort.models.export;
