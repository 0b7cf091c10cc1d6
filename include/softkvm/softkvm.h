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

/* As ioctl(fd, request, arg) on a softkvm fd. A fd that softkvm did not
 * create fails with -1/EBADF (ENOTTY for a non-KVM request). */
int skvm_ioctl(int fd, unsigned long request, unsigned long arg);

/* As close(fd); releases the KVM object when its last reference goes. */
int skvm_close(int fd);

/* Non-zero when fd is a handle softkvm created (system, VM or vCPU). */
int skvm_is_handle(int fd);

/* Human-readable library version. */
const char* skvm_version(void);

#ifdef __cplusplus
}
#endif
#endif
