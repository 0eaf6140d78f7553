package dev.retort.distill.cache;

/**
 * A teacher cache's metadata as read back: how it was made, and how much it holds.
 *
 * @param description what it was made from and how
 * @param sequenceCount the sequences it holds
 * @param tokenCount the tokens in all of them
 */
public record CacheMetadata(CacheDescription description, long sequenceCount, long tokenCount) {}
