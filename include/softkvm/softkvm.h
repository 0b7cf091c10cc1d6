/*
 * softkvm — the Linux KVM API served in user space.
 *
 * These three calls are the whole public interface. Their contract is that of
 * open(2)/ioctl(2)/close(2) on the Linux /dev/kvm device and the VM and vCPU
 * file descriptors it creates (<linux/kvm.h>, API version 12): same return
 * values, same errno. Every handle is a real file descriptor (a memfd), so
 * mmap(vcpu_fd, 0, KVM_GET_VCPU_MMAP_SIZE) maps struct kvm_run at page 0 and
 * the PIO data page at KVM_PIO_PAGE_OFFSET.
 */
#ifndef SOFTKVM_SOFTKVM_H
#define SOFTKVM_SOFTKVM_H

#ifdef __cplusplus
extern "C" {
#endif

/* As open("/dev/kvm", flags): returns a system fd, or -1 with errno. */
int skvm_open(int flags);

/* As ioctl(fd, request, arg) on a softkvm fd. As ioctl(2) on a fd that is not
 * a KVM fd: -1/ENOTTY for an open fd softkvm did not create, -1/EBADF for a
 * closed one. */
int skvm_ioctl(int fd, unsigned long request, unsigned long arg);

/* As close(fd); releases the KVM object when its last reference goes. */
int skvm_close(int fd);

/* Non-zero when fd is a handle softkvm created (system, VM or vCPU). */
int skvm_is_handle(int fd);

/* Async-signal-safe; call it from a signal handler: the KVM_RUN in progress
 * on the calling thread (if any) stops and returns -1/EINTR with
 * exit_reason KVM_EXIT_INTR, as a signal does with real KVM. The preload
 * shim's wrapped signal handlers call it. */
void skvm_signal_notify(void);

/* Async-signal-safe; for a SIGSEGV or SIGBUS handler (SA_SIGINFO) that a
 * client installs after its first KVM_CREATE_VCPU, replacing softkvm's own:
 * call it first with the handler's three arguments. When the fault is a
 * guest access to memslot memory the client unmapped or protected, during
 * KVM_RUN on this thread, it does not return: that KVM_RUN returns -1/EFAULT
 * as with real KVM. Otherwise it returns 0 and the handler goes on. (The
 * preload shim's wrappers call it; plain C ABI clients that install such
 * handlers must.) `info` is a siginfo_t*, `ucontext` a ucontext_t*. */
int skvm_handle_fault(int sig, void* info, void* ucontext);

/* C++ callers, beware: <linux/kvm.h> structs that end in __DECLARE_FLEX_ARRAY
 * (kvm_msrs, kvm_msr_list, kvm_cpuid, kvm_cpuid2, kvm_signal_mask,
 * kvm_irq_routing, kvm_xsave, ...) have a different sizeof/offsetof in C++
 * (the macro's empty struct takes 1 byte), so the KVM_* request macros built
 * from them are wrong in C++ and both the host /dev/kvm and softkvm reject
 * them (e.g. KVM_GET_MSRS is 0xc010ae88 in C++, 0xc008ae88 for the kernel).
 * Use these kernel values (x86-64) instead, and lay the buffers out with the
 * C header sizes: 4 for kvm_msr_list and kvm_signal_mask, 8 for kvm_msrs,
 * kvm_cpuid, kvm_cpuid2 and kvm_irq_routing. */
#define SKVM_KVM_GET_MSR_INDEX_LIST 0xc004ae02UL
#define SKVM_KVM_GET_MSR_FEATURE_INDEX_LIST 0xc004ae0aUL
#define SKVM_KVM_GET_SUPPORTED_CPUID 0xc008ae05UL
#define SKVM_KVM_GET_EMULATED_CPUID 0xc008ae09UL
#define SKVM_KVM_GET_MSRS 0xc008ae88UL
#define SKVM_KVM_SET_MSRS 0x4008ae89UL
#define SKVM_KVM_SET_CPUID 0x4008ae8aUL
#define SKVM_KVM_SET_CPUID2 0x4008ae90UL
#define SKVM_KVM_GET_CPUID2 0xc008ae91UL
#define SKVM_KVM_SET_SIGNAL_MASK 0x4004ae8bUL
#define SKVM_KVM_SET_GSI_ROUTING 0x4008ae6aUL
#define SKVM_KVM_GET_XSAVE 0x9000aea4UL
#define SKVM_KVM_SET_XSAVE 0x5000aea5UL
#define SKVM_KVM_GET_XSAVE2 0x9000aecfUL

/* Human-readable library version. */
const char* skvm_version(void);

#ifdef __cplusplus
}
#endif
#endif
