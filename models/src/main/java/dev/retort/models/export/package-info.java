/**
 * Writing models: {@link dev.retort.models.export.ModelExporter} turns a model directory plus an optional PEFT
 * adapter into a plain Hugging Face model directory, the adapter merged, in F32, BF16 or F16.
 */
package dev.retort.models.export;
