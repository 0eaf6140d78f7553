/**
 * The teacher cache: a teacher's top-k logits for every token of a training set, computed once
 * ({@code retort cache-teacher}) so that distillation can run without the teacher in memory.
 *
 * <ul>
 *   <li>{@link dev.retort.distill.loss.TopK} (in loss, shared with a live teacher): exact top-k selection (ties
 *       by lower id) and the log-sum-exp of the logits left out, at a temperature.
 *   <li>{@link dev.retort.distill.cache.TeacherCacheWriter}: appends sequences (from dense logits or ready top-k
 *       data) and writes the file atomically.
 *   <li>{@link dev.retort.distill.cache.TeacherCache}: memory-maps a file and reads any sequence directly.
 *   <li>{@link dev.retort.distill.cache.CacheHashes}: the vocabulary and data hashes a cache records.
 *   <li>{@link dev.retort.distill.cache.TeacherCacheJob}: {@code retort cache-teacher}, the teacher over a data file.
 *   <li>{@link dev.retort.distill.cache.TeacherCaches}: a cache read back as the loss's teacher source.
 * </ul>
 *
 * <p>The format is FlatBuffers inside a small framing that lets a cache exceed FlatBuffers' 2 GB limit: a
 * header with the metadata, blocks of whole sequences, a block index and a trailer pointing at it. The schema
 * and the byte layout are in {@code distill/src/main/fbs/teacher_cache.fbs}. The FlatBuffers accessors are
 * written by hand ({@code CacheMetadataTable}, {@code SequenceBlockTable}, {@code BlockIndexTable} on
 * {@code CheckedTable}) and check every offset, since the Java runtime does not. Any fault in a file is a
 * {@link dev.retort.distill.cache.TeacherCacheException} whose one-line message names the file.
 */
package dev.retort.distill.cache;
