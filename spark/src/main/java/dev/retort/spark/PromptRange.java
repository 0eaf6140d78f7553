package dev.retort.spark;

import java.io.Serializable;
import java.util.List;

/**
 * One partition's share of a generation job, an element of its RDD: inputs [first, first + prompts.size()) of the
 * job, each a prompt text the teacher continues {@code samples} times.
 */
record PromptRange(int first, List<String> prompts) implements Serializable {}
