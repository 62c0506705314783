/* test_schedule.c: the learning-rate schedules against their closed forms,
 * and the decayed/Nesterov update against a double-precision loop written
 * from the formulas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "schedule.h"

static void near(double got, double want)
{
    if (fabs(got - want) > 1e-12 * (1 + fabs(want))) fail_msg("got %.17g, want %.17g", got, want);
}

static void schedules_follow_their_formulas(void **state)
{
    (void)state;
    const long spe = 10; /* steps per epoch */
    const int epochs = 4;
    nn_schedule s = {.kind = LR_CONSTANT, .lr = 0.5, .gamma = 0.1};
    for (long g = 0; g < 40; g++) assert_true(schedule_lr(&s, g, spe, epochs) == 0.5); /* exactly --lr */
    s.kind = LR_STEP, s.n_milestones = 2, s.milestones[0] = 1, s.milestones[1] = 2.5;
    near(schedule_lr(&s, 9, spe, epochs), 0.5);
    near(schedule_lr(&s, 10, spe, epochs), 0.05);   /* epoch 1 begins */
    near(schedule_lr(&s, 24, spe, epochs), 0.05);
    near(schedule_lr(&s, 25, spe, epochs), 0.005);  /* half way through epoch 2 */
    s.kind = LR_COSINE, s.lr_min = 0.1;
    near(schedule_lr(&s, 0, spe, epochs), 0.5);
    near(schedule_lr(&s, 20, spe, epochs), 0.1 + 0.4 * 0.5 * (1 + cos(M_PI * 0.5)));
    near(schedule_lr(&s, 40, spe, epochs), 0.1);
    s.kind = LR_LINEAR;
    near(schedule_lr(&s, 10, spe, epochs), 0.5 - 0.4 * 0.25);
    /* warmup: the rate above times (g + 1) / W, W = ceil(1.5 epochs) = 15 steps */
    s.kind = LR_CONSTANT, s.warmup_epochs = 1.5;
    near(schedule_lr(&s, 0, spe, epochs), 0.5 / 15);
    near(schedule_lr(&s, 14, spe, epochs), 0.5);
    near(schedule_lr(&s, 15, spe, epochs), 0.5);
}

/* net_sgd_update_decayed against the formulas, in double: d = step*g +
 * decay*W for weights (not biases); v = m v - d; W += nesterov ? m v - d : v. */
static void decayed_update_follows_the_formulas(void **state)
{
    (void)state;
    static const int sizes[] = {5, 4, 3};
    for (int nesterov = 0; nesterov <= 1; nesterov++) {
        nn_net net;
        net_create(&net, sizes, 3, ACT_RELU, LOSS_XENT, 2, 1);
        size_t n = net.n_params;
        float *grad = malloc(sizeof(float) * n);
        double *p = malloc(sizeof(double) * n), *v = malloc(sizeof(double) * n);
        for (size_t i = 0; i < n; i++) {
            net.params[i] = (float)(0.1 * (double)(i % 7) - 0.3), net.velocity[i] = (float)(0.01 * (double)(i % 5));
            grad[i] = (float)(0.2 * (double)(i % 3) - 0.2);
            p[i] = net.params[i], v[i] = net.velocity[i];
        }
        const float step = 0.05f, momentum = 0.9f, decay = 0.01f;
        assert_int_equal(net_sgd_update_decayed(&net, grad, step, momentum, decay, nesterov), 0);
        for (int l = 0; l < net.n_layers; l++)
            for (size_t i = net.w_off[l]; i < net.w_off[l + 1]; i++) {
                double d = (double)step * grad[i] + (i < net.b_off[l] ? (double)decay * p[i] : 0.0);
                v[i] = (double)momentum * v[i] - d;
                p[i] += nesterov ? (double)momentum * v[i] - d : v[i];
            }
        for (size_t i = 0; i < n; i++)
            if (fabs(net.params[i] - p[i]) > 1e-6 || fabs(net.velocity[i] - v[i]) > 1e-6)
                fail_msg("nesterov %d, param %zu: %g (velocity %g), want %g (%g)", nesterov, i, net.params[i],
                         net.velocity[i], p[i], v[i]);
        free(grad), free(p), free(v);
        net_free(&net);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedules_follow_their_formulas),
        cmocka_unit_test(decayed_update_follows_the_formulas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
