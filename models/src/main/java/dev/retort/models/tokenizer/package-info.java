/**
 * Tokenizers of Llama-family models, computing exactly what the reference tokenizers compute.
 *
 * <p>{@link dev.retort.models.tokenizer.Tokenizers#load} reads a model directory's Hugging Face
 * {@code tokenizer.json} (with {@code tokenizer_config.json}) or, failing that, its SentencePiece
 * {@code tokenizer.model}, and returns a {@link dev.retort.models.tokenizer.Tokenizer}.
 *
 * <p>A {@code tokenizer.json} is read by {@code HuggingFaceTokenizerReader} into the stages HF runs: added
 * tokens ({@code AddedTokenSplitter}), {@code TextNormalizer}, {@code PreTokenizer}, the BPE model
 * ({@code MergeRankBpe}: merges by rank from the merges list) and the decoder ({@code HuggingFaceDecoding}).
 * A {@code tokenizer.model} is parsed by {@code SentencePieceModel} (with the small {@code ProtoReader}) and
 * encoded by {@code SentencePieceTokenizer}, which follows SentencePiece itself: merges chosen by piece
 * score, SentencePiece's whitespace handling. Decoding of both runs as a stream ({@code DecodingState}) so
 * that {@link dev.retort.models.tokenizer.TokenStreamDecoder} and whole decoding agree.
 */
package dev.retort.models.tokenizer;
