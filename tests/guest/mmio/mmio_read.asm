; Loads from unbacked guest-physical memory: each is a KVM_EXIT_MMIO read
; completed with the client's data on re-entry (1, 2, 4, 8 bytes).
; api.rst KVM_EXIT_MMIO.
; mode: long
; mmio-in: data=78 56 34 12 cd ab 5a 88 77 66 55 44 33 22 11
; expect-mmio: read gpa=0xc0000 len=4
; expect-mmio: read gpa=0xc0010 len=2
; expect-mmio: read gpa=0xc0020 len=1
; expect-mmio: read gpa=0xc0028 len=8
; expect: rax=0x12345678 rbx=0xabcd rcx=0x5a rdx=0x1122334455667788
; expect-exit: hlt
bits 64
org 0x10000
  mov eax, [0xc0000]
  movzx ebx, word [0xc0010]
  movzx ecx, byte [0xc0020]
  mov rdx, [0xc0028]
  hlt
