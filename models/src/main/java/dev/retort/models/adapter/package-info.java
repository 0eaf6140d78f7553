/**
 * Bottleneck adapters (Houlsby et al. 2019) on a frozen Llama model, the other adapter kind beside
 * {@link dev.retort.models.lora LoRA}. A package of its own because it shares nothing with LoRA but the Linear
 * adapter seam: LoRA is PEFT's format and merges into the weights, a bottleneck adapter has its own file format
 * and stays a module.
 *
 * <ul>
 *   <li>{@link dev.retort.models.adapter.BottleneckConfig}: width, placement (attention, mlp or both), seed.
 *   <li>{@link dev.retort.models.adapter.BottleneckAdapter}: one adapter,
 *       {@code h + W_up·silu(W_down·h + b_down) + b_up} on a sub-block's output, forward and backward through
 *       autograd's ops; identity when fresh; never merged.
 *   <li>{@link dev.retort.models.adapter.BottleneckModel}: the adapters attached to every decoder layer, the base
 *       frozen; their parameters; detach.
 *   <li>{@link dev.retort.models.adapter.BottleneckFiles}: {@code adapter_model.safetensors} +
 *       {@code adapter_config.json} with {@code adapter_type} {@code retort_bottleneck}, both ways.
 * </ul>
 */
package dev.retort.models.adapter;
