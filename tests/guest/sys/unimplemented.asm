; An instruction softkvm's engine does not implement yet stops the vCPU
; with KVM_EXIT_INTERNAL_ERROR (KVM_INTERNAL_ERROR_EMULATION), RIP left on
; the instruction, as KVM does when its emulator fails.
; softkvm only: on the host the outcome depends on the host, not on KVM's
; ABI: a hardware-virtualized KVM executes x87 FLDPI (D9 EB) natively; this
; machine's KVM, which emulates guest code, also stops with an internal
; error (checked once by hand: same rax/rip). The engine has no x87 rows yet
; (src/cpu/isa/opcodes.inc); when x87 lands, point this guest at another
; unimplemented form.
; backends: soft
; mode: long
; expect: rax=0x77 rip=0x10005
; expect-exit: internal-error
bits 64
org 0x10000
  mov eax, 0x77
  fldpi
  hlt
