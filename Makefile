# aigc_pg: built with PGXS against PostgreSQL 15, linked with OpenBLAS.
EXTENSION = aigc_pg
MODULE_big = aigc_pg
DATA = sql/aigc_pg--0.1.0.sql

SRCS = $(sort $(wildcard src/*.c src/*/*.c))
OBJS = $(SRCS:.c=.o)
HEADERS = $(wildcard src/*.h src/*/*.h)

PG_CONFIG ?= pg_config

# Files in src/ subfolders include each other as "core/tf_model.h"
PG_CPPFLAGS += -I$(srcdir)/src

# Regression tests: inputs in test/sql, expected outputs in expected/
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=. --load-extension=aigc_pg

PG_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers $(shell pkg-config --cflags openblas)
SHLIB_LINK = $(shell pkg-config --libs openblas) -lm

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(HEADERS)
