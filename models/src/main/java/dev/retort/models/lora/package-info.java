/**
 * LoRA: low-rank adapters on the Linear layers of a Llama model, trained while the base stays frozen in place.
 *
 * <ul>
 *   <li>{@link dev.retort.models.lora.LoraConfig}: rank, alpha, dropout, target modules, rsLoRA, seed.
 *   <li>{@link dev.retort.models.lora.Lora#attach}: puts a {@link dev.retort.models.lora.LoraAdapter} on every
 *       targeted layer and freezes the model; the returned {@link dev.retort.models.lora.LoraModel} lists the
 *       adapters, their parameters and LoRA+ optimizer groups, merges and unmerges, and detaches.
 *   <li>{@link dev.retort.models.lora.PeftAdapter}: PEFT's {@code adapter_model.safetensors} +
 *       {@code adapter_config.json}, both ways, checked against PEFT itself ({@code tools/peft/}).
 *   <li>{@link dev.retort.tensor.DTypeConversion} (in tensor): F32/BF16/F16 copies for merged weights.
 * </ul>
 */
package dev.retort.models.lora;
