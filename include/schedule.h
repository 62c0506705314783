/*
 * schedule.h: the learning rate of every step (--lr-schedule, --warmup,
 * --lr-batch). A pure function of the global step, so a resumed run is at
 * the same point of its schedule without saving anything, and every rank
 * computes the same rate.
 *
 *   constant  lr
 *   step      lr * gamma^k, k = the milestones (--lr-steps, in epochs) passed
 *   cosine    lr_min + (lr - lr_min) (1 + cos(pi g / T)) / 2
 *   linear    lr - (lr - lr_min) g / T
 * g = the global step (from 0), T = the run's steps (--epochs of them).
 * Warmup: during the first W steps (--warmup epochs, fractions allowed) the
 * rate above is multiplied by (g + 1) / W, a linear ramp from about 0.
 */
#ifndef NN_SCHEDULE_H
#define NN_SCHEDULE_H

#define NN_MAX_MILESTONES 16

typedef enum { LR_CONSTANT, LR_STEP, LR_COSINE, LR_LINEAR } nn_lr_kind;
enum { LR_KIND_COUNT = LR_LINEAR + 1 };
extern const char *const nn_lr_kind_names[LR_KIND_COUNT]; /* constant step cosine linear */

typedef struct {
    nn_lr_kind kind;
    double lr, lr_min, gamma;
    int n_milestones;
    double milestones[NN_MAX_MILESTONES]; /* epochs, ascending */
    double warmup_epochs;
} nn_schedule;

/* The rate of global step `step` of a run of `epochs` epochs of `steps_per_epoch` steps. */
double schedule_lr(const nn_schedule *s, long step, long steps_per_epoch, int epochs);

#endif
