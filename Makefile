# Front door. `make` builds into build/; `make test` and `make demo` first
# install whatever Debian packages are missing (as root).
BUILD    ?= build
ASAN_DIR ?= build-asan
JOBS     ?= 2
CMAKE_FLAGS ?=

.PHONY: all build deps test test-asan demo bench fuzz clean

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

# Debian's cloud kernel + a busybox initramfs (tools/make-initramfs.sh) booted
# to a shell by `softkvm run` on the software backend (docs/vmm.md).
# DEMO_ARGS adds options, e.g. DEMO_ARGS="--backend host --verbose".
# DEMO_KERNEL=FILE boots another kernel.
demo: deps build
	tools/install-deps.sh demo
	tools/make-initramfs.sh $(BUILD)/demo-initramfs.cpio.gz
	k="$(DEMO_KERNEL)"; [ -n "$$k" ] || k=$$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1); \
	$(BUILD)/softkvm run -k "$$k" -i $(BUILD)/demo-initramfs.cpio.gz $(DEMO_ARGS)

# A long differential-fuzz session (tests/fuzz): every mode against the
# host /dev/kvm, then >= 10 million 64-bit instructions against the host CPU.
# Shrunk mismatches are written as guests into $(BUILD)/fuzz-out.
FUZZ_SEED ?= $(shell date +%s)
fuzz: build
	mkdir -p $(BUILD)/fuzz-out
	$(BUILD)/skvm-fuzz --seed $(FUZZ_SEED) --mode all --oracle host --iterations 20000 --max-mismatches 50 --known tests/fuzz/known_mismatches.txt --out $(BUILD)/fuzz-out
	$(BUILD)/skvm-fuzz --seed $(FUZZ_SEED) --mode 64 --oracle native --iterations 500000 --length 24 --max-mismatches 50 --known tests/fuzz/known_mismatches.txt --out $(BUILD)/fuzz-out
	$(BUILD)/skvm-fuzz --seed $(FUZZ_SEED) --mode 32 --oracle native --iterations 300000 --length 24 --max-mismatches 50 --known tests/fuzz/known_mismatches.txt --out $(BUILD)/fuzz-out

bench: build
	tools/install-deps.sh bench
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_DIR)
