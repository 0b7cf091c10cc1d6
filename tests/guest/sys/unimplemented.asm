; An instruction softkvm's engine does not implement yet stops the vCPU
; with KVM_EXIT_INTERNAL_ERROR (KVM_INTERNAL_ERROR_EMULATION), RIP left on
; the instruction, as KVM does when its emulator fails.
; softkvm only: on the host the outcome depends on the host, not on KVM's
; ABI: a hardware-virtualized KVM executes PREFETCHW (0F 0D /1) natively.
; The engine has no row for it (src/cpu/isa/opcodes.inc; the x87 FLDPI used
; here before is implemented now); when it lands, point this guest at
; another unimplemented form.
; backends: soft
; mode: long
; expect: rax=0x77 rip=0x10005
; expect-exit: internal-error
bits 64
org 0x10000
  mov eax, 0x77
  prefetchw [rax]
  hlt
