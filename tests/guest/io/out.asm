; OUT of each size, to an immediate port and to DX: one KVM_EXIT_IO each,
; data at kvm_run + io.data_offset. SDM Vol. 2B, OUT; api.rst KVM_EXIT_IO.
; mode: long
; expect-io: out port=0x3f8 size=1 count=1 data=41
; expect-io: out port=0x80 size=2 count=1 data=34 12
; expect-io: out port=0xcf8 size=4 count=1 data=78 56 34 12
; expect-exit: hlt
bits 64
org 0x10000
  mov al, 'A'
  mov dx, 0x3f8
  out dx, al
  mov ax, 0x1234
  out 0x80, ax
  mov eax, 0x12345678
  mov dx, 0xcf8
  out dx, eax
  hlt
