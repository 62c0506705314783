/*
 * model.h: what describes a network without computing it: the layer-size
 * limit, the activation/loss/initialisation enums with their names, and the
 * parameter layout. No BLAS, no MPI, no files: the network (net.h), the
 * checkpoint (checkpoint.h), the options and the reports all share it.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stddef.h>

#define NN_MAX_SIZES 16 /* at most 15 weight layers */

/* Each enum beside its names (index = value): options, checkpoints and
 * reports all parse and print through these tables. */
typedef enum { ACT_SIGMOID, ACT_RELU, ACT_TANH } nn_activation;
typedef enum { LOSS_MSE, LOSS_XENT } nn_loss;
typedef enum { INIT_NORMAL, INIT_XAVIER, INIT_HE } nn_init;
enum { ACT_COUNT = ACT_TANH + 1, LOSS_COUNT = LOSS_XENT + 1, INIT_COUNT = INIT_HE + 1 };
extern const char *const nn_activation_names[ACT_COUNT]; /* sigmoid relu tanh */
extern const char *const nn_loss_names[LOSS_COUNT];       /* mse xent */
extern const char *const nn_init_names[INIT_COUNT];       /* normal xavier he */

/* The index of `s` in names[0..n), or -1 when it is none of them. */
int nn_name_index(const char *const *names, int n, const char *s);

/* The parameter layout of a network of sizes[0..n_sizes): layer l's weights
 * (sizes[l+1], sizes[l]) start at w_off[l], its biases (sizes[l+1]) at
 * b_off[l], W0 b0 W1 b1 ... with no gaps; w_off[n_sizes - 1] is the total,
 * which it returns. The one place this rule lives (the network and the
 * checkpoint use it); either array may be NULL. */
size_t model_layout(const int *sizes, int n_sizes, size_t *w_off, size_t *b_off);

/* sizes[0..n_sizes) as "784,30,10" into out (truncated to len); returns out. */
char *model_sizes_text(const int *sizes, int n_sizes, char *out, size_t len);

#endif
