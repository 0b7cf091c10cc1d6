# Front door. `make` builds into build/; `make test` and `make demo` first
# install whatever Debian packages are missing (as root).
BUILD    ?= build
ASAN_DIR ?= build-asan
JOBS     ?= 2
CMAKE_FLAGS ?=

.PHONY: all build deps test test-asan demo bench clean

all: build

build:
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

deps:
	tools/install-deps.sh build

# The whole suite through ctest.
test: deps build
	ctest --test-dir $(BUILD) -j$(JOBS) --output-on-failure --timeout 300

# Unit, guest and ABI tests again under ASan+UBSan, built with clang (the
# main build uses gcc, so CI compiles everything with both, -Werror).
test-asan: deps
	@test -f $(ASAN_DIR)/build.ninja || CC=clang CXX=clang++ cmake -S . -B $(ASAN_DIR) -G Ninja -DSKVM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_DIR) -j$(JOBS)
	ctest --test-dir $(ASAN_DIR) -j$(JOBS) --output-on-failure --timeout 300 -L 'unit|abi|guest'

# The default guest on the software backend.
demo: deps build
	$(BUILD)/softkvm run --flat $(BUILD)/guests/demo.bin

bench: build
	tools/install-deps.sh bench
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_DIR)
