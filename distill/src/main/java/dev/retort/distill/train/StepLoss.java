package dev.retort.distill.train;

import dev.retort.autograd.Var;

/**
 * A micro-batch's loss and the plain numbers logged with it. Sums are over target tokens: {@code ceSum}
 * (student cross-entropy, nats), {@code kdSum} (the divergence from the teacher, without the T² factor; 0 when
 * there is no teacher), {@code agree} (tokens where the student's top-1 equals the teacher's).
 */
public record StepLoss(Var loss, double ceSum, double kdSum, long tokens, long agree) {}
