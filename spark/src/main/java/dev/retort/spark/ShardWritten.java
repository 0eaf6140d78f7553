package dev.retort.spark;

import java.io.Serializable;

/**
 * What one task reports to the driver: the shard of partition {@code partition} holds {@code sequences}
 * sequences ({@code tokens} tokens) starting at packed row {@code firstRow}.
 */
public record ShardWritten(int partition, int firstRow, long sequences, long tokens) implements Serializable {}
