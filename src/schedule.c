/* schedule.c: the learning rate of every step (schedule.h). */
#include "schedule.h"

#include <math.h>

const char *const nn_lr_kind_names[LR_KIND_COUNT] = {"constant", "step", "cosine", "linear"};

double schedule_lr(const nn_schedule *s, long step, long steps_per_epoch, int epochs)
{
    double total = (double)steps_per_epoch * epochs, g = (double)step, lr = s->lr;
    switch (s->kind) {
    case LR_CONSTANT: break;
    case LR_STEP:
        for (int i = 0; i < s->n_milestones; i++)
            if (g >= s->milestones[i] * steps_per_epoch) lr *= s->gamma;
        break;
    case LR_COSINE:
        if (total > 0) lr = s->lr_min + (s->lr - s->lr_min) * 0.5 * (1.0 + cos(M_PI * fmin(g / total, 1.0)));
        break;
    case LR_LINEAR:
        if (total > 0) lr = s->lr - (s->lr - s->lr_min) * fmin(g / total, 1.0);
        break;
    }
    double warmup = s->warmup_epochs * steps_per_epoch;
    if (warmup > 0 && g < warmup) lr *= (g + 1.0) / ceil(warmup);
    return lr;
}
