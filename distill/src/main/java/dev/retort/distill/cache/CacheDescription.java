package dev.retort.distill.cache;

import java.util.Objects;

/**
 * What a teacher cache was made from and how: everything in the file's metadata except the counts, which the
 * writer fills in.
 *
 * @param teacherName a name for the teacher, e.g. its directory's name
 * @param teacherPath the teacher directory as the user gave it
 * @param vocabSize V, the teacher's logits per token
 * @param topK k, the logits kept per token, in [1, V]
 * @param temperature the temperature T at which each token's rest log-sum-exp is computed (the kept logits are
 *     raw); positive and finite
 * @param sequenceLength the longest sequence the cache may hold
 * @param tokenizerHash identifies the vocabulary the ids refer to ({@link CacheHashes#vocabulary}); a reader
 *     expecting another refuses the cache. Not empty.
 * @param dataName the training data file's name
 * @param dataHash the training data file's hash ({@link CacheHashes#file}), or empty when not computed
 */
public record CacheDescription(String teacherName, String teacherPath, int vocabSize, int topK, float temperature,
                               int sequenceLength, String tokenizerHash, String dataName, String dataHash)
        implements java.io.Serializable {   // sent with each task of a distributed teacher pass (the spark module)

    public CacheDescription {
        Objects.requireNonNull(teacherName, "teacherName");
        Objects.requireNonNull(teacherPath, "teacherPath");
        Objects.requireNonNull(tokenizerHash, "tokenizerHash");
        Objects.requireNonNull(dataName, "dataName");
        Objects.requireNonNull(dataHash, "dataHash");
        if (vocabSize < 1) throw new IllegalArgumentException("vocab size must be >= 1, got " + vocabSize);
        if (topK < 1 || topK > vocabSize) {
            throw new IllegalArgumentException("top-k must be in [1, vocab size = " + vocabSize + "], got " + topK);
        }
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be positive and finite, got " + temperature);
        }
        if (sequenceLength < 1) {
            throw new IllegalArgumentException("sequence length must be >= 1, got " + sequenceLength);
        }
        if (tokenizerHash.isEmpty()) throw new IllegalArgumentException("tokenizer hash must not be empty");
    }
}
