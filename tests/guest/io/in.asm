; IN of each size: the data the client leaves in the PIO page before the
; next KVM_RUN completes the instruction. 8/16-bit IN merge into RAX,
; 32-bit IN zero-extends. SDM Vol. 2A, IN; api.rst KVM_EXIT_IO.
; mode: long
; io-in: port=0x60 data=aa
; io-in: port=0x61 data=cc bb
; io-in: port=0x62 data=04 03 02 01
; expect-io: in port=0x60 size=1 count=1
; expect-io: in port=0x61 size=2 count=1
; expect-io: in port=0x62 size=4 count=1
; expect: rax=0x01020304 rbx=0x11111111111111aa rcx=0x111111111111bbcc
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, 0x1111111111111111
  in al, 0x60
  mov rbx, rax
  mov rax, 0x1111111111111111
  mov dx, 0x61
  in ax, dx
  mov rcx, rax
  mov rax, -1
  mov dx, 0x62
  in eax, dx
  hlt
