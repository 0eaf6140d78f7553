/**
 * Hugging Face model files, read as they are published.
 *
 * <ul>
 *   <li>{@link dev.retort.models.hf.ModelWeights}: named tensors of a checkpoint, memory-mapped, zero-copy;
 *       {@link dev.retort.models.hf.SafetensorsFile} for one file, {@link dev.retort.models.hf.ShardedSafetensors}
 *       for {@code model.safetensors.index.json} and its shards.
 *   <li>{@link dev.retort.models.hf.SafetensorsHeader}: the header's parser and validator. Files are untrusted:
 *       every offset and size is checked before it is used, and any fault is a
 *       {@link dev.retort.models.hf.ModelFileException} whose one-line message names the file.
 *   <li>{@link dev.retort.models.hf.SafetensorsWriter}: atomic writes, byte-identical to the reference library's.
 *   <li>{@link dev.retort.models.hf.LlamaConfig}: {@code config.json}, with transformers' defaults.
 * </ul>
 *
 * <p>The golden files of the tests come from the reference Python libraries through
 * {@code tools/hf-golden/make_golden.py}.
 */
package dev.retort.models.hf;
