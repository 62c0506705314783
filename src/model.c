/* model.c: the enums' names and the parameter layout (model.h). */
#include "model.h"
#include "reduce.h"

#include <stdio.h>
#include <string.h>

const char *const nn_activation_names[ACT_COUNT] = {"sigmoid", "relu", "tanh"};
const char *const nn_loss_names[LOSS_COUNT] = {"mse", "xent"};
const char *const nn_init_names[INIT_COUNT] = {"normal", "xavier", "he"};
/* The reducer's names live with the others: the checkpoint records the method
 * (reduce.h), and its reader needs no reducer. */
const char *const nn_reduce_names[REDUCE_KIND_COUNT] = {"auto", "mpi", "ring", "shm"};

int nn_name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

size_t model_layout(const int *sizes, int n_sizes, size_t *w_off, size_t *b_off)
{
    size_t off = 0;
    for (int l = 0; l + 1 < n_sizes; l++) {
        if (w_off) w_off[l] = off;
        off += (size_t)sizes[l + 1] * (size_t)sizes[l];
        if (b_off) b_off[l] = off;
        off += (size_t)sizes[l + 1];
    }
    if (w_off) w_off[n_sizes - 1] = off;
    return off;
}

char *model_sizes_text(const int *sizes, int n_sizes, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n_sizes && used + 1 < len; i++) {
        int n = snprintf(out + used, len - used, "%s%d", i ? "," : "", sizes[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    return out;
}
