/**
 * The library entry point: {@link dev.retort.models.Llm} opens a Hugging Face model directory (and optionally a
 * PEFT LoRA adapter, merged on open) and generates text, computes logits and measures cross-entropy;
 * {@link dev.retort.models.Sampling} says how tokens are picked, {@link dev.retort.models.Evaluation} holds a
 * measured cross-entropy. The sub-packages are the parts it is built from: {@code hf} (files), {@code tokenizer},
 * {@code llama} (the architecture, inference, sampling), {@code lora} and {@code export}.
 */
package dev.retort.models;
