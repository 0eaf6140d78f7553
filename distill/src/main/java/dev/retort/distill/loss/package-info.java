/**
 * Distillation objectives: what a student is trained to minimise.
 *
 * <ul>
 *   <li>{@link dev.retort.distill.loss.DistillationLoss}: logit distillation, (1 − α)·CE + α·T²·D per counted
 *       token, fused with the student's LM head ({@code linear}) so that [N × V] logits never exist, or from
 *       ready-made logits ({@code fromLogits}). Its result carries the loss var and the numbers a trainer logs.
 *   <li>{@link dev.retort.distill.loss.Divergence}: D — forward and reverse KL, generalised JSD, skew KL and skew
 *       reverse KL, total variation — each as a per-bucket term and its gradient, formulas in the code.
 *   <li>{@link dev.retort.distill.loss.KdConfig}: divergence, temperature, α, β (mixture or skew) and top-k.
 *   <li>{@link dev.retort.distill.loss.TeacherSource}: the teacher side, a row block at a time: dense logits
 *       from a live teacher ({@link dev.retort.distill.loss.DenseTeacher}) or
 *       {@link dev.retort.distill.loss.TopKBlock}s from a cache. Top-k truncation coarsens both distributions
 *       to the teacher's k tokens plus one rest bucket, identically for a truncated live teacher and a cache.
 *   <li>{@link dev.retort.distill.loss.FeatureLoss} and {@link dev.retort.distill.loss.LayerMap}: hidden-state
 *       distillation (MSE, cosine) between mapped layers, through a learned projection when widths differ.
 * </ul>
 *
 * <p>The tests check every value against the definitions written out in double precision and every gradient
 * against central finite differences of them.
 */
package dev.retort.distill.loss;
