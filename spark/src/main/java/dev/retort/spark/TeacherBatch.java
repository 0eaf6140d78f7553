package dev.retort.spark;

import java.io.Serializable;

/**
 * One teacher pass's input, an element of the job's RDD: packed rows [firstRow, firstRow + rows.length) of the data,
 * each [seq] tokens, at most {@code --batch-size} of them, cut from row 0 exactly as {@code retort cache-teacher}
 * cuts its passes.
 */
public record TeacherBatch(int firstRow, int[][] rows) implements Serializable {}
