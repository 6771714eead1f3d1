# aigc_pg: built with PGXS against PostgreSQL 15, linked with OpenBLAS.
# src/ is layered (docs/architecture.md); headers are included by their path
# below src/, e.g. "core/vae.h", and none is installed: they are private.
EXTENSION = aigc_pg
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
MODULE_big = aigc_pg
# The base script of every installable version and the upgrade scripts
# between them (ALTER EXTENSION aigc_pg UPDATE)
DATA = $(sort $(wildcard sql/$(EXTENSION)--*.sql))

SRCS = $(sort $(wildcard src/*.c src/*/*.c))
OBJS = $(SRCS:.c=.o)
HDRS = $(wildcard src/*/*.h)

PG_CONFIG ?= pg_config

# pg_regress: inputs in test/sql, expected outputs in expected/
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=. --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers $(shell pkg-config --cflags openblas)
SHLIB_LINK = $(shell pkg-config --libs openblas) -lm

# installcheck is ours (below), not PGXS's pg_regress-only one
NO_INSTALLCHECK = 1
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(HDRS)

# The training loop's element-wise kernels (docs/performance.md): GCC's -O2
# vectorises only loops whose trip count it knows, so these files use the
# dynamic cost model, and no errno to set lets sqrtf inline into vector code.
VECTOR_OBJS = src/core/layers.o src/core/optimizer.o src/core/rng.o src/core/vae.o src/core/gan.o \
	src/core/column_encoder.o \
	src/core/vae_train.o \
	src/core/tf_layers.o
VECTOR_CFLAGS := $(shell $(CC) -Werror -fvect-cost-model=dynamic -fno-math-errno \
	-S -o /dev/null -x c /dev/null 2>/dev/null && echo -fvect-cost-model=dynamic -fno-math-errno)
$(VECTOR_OBJS): override CFLAGS += $(VECTOR_CFLAGS)

# `make installcheck` runs every suite against the running server (libpq's
# environment): pg_regress, then scripts/suites.sh (fuzz smoke, shell TAP
# tests, pgTAP), which reports each failure and prints the summary line.
installcheck: submake $(REGRESS_PREP)
	@status=0; $(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS) || status=$$?; \
	PG_CONFIG=$(PG_CONFIG) bash $(srcdir)/scripts/suites.sh $$status
