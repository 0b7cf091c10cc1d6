; DR1 write breakpoint over 4 bytes at 0x600 (SDM Vol. 3B 17.2.5): a read
; does not fire it, a one-byte store to 0x603 does, as a #DB trap after the
; store with DR6.B1. SI counts #DBs, DI = return IP - after_store.
; The host runs this guest in KVM's instruction emulator, which checks code
; breakpoints only (x86.c kvm_vcpu_check_code_breakpoint): no data
; breakpoint ever fires there, unlike hardware.
; backends: soft
; mode: real
; expect: rsi=1 rdi=0 rdx=0xffff0ff2
; expect-mem: 0x600 = 00 00 00 5a
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  mov word [4], handler
  mov word [6], 0
  xor si, si
  mov eax, 0x600
  mov dr1, eax
  mov eax, 0x404 | (1 << 20) | (3 << 22)  ; L1, RW1 = 01 (writes), LEN1 = 11 (4 bytes)
  mov dr7, eax
  mov al, [0x601]     ; a read: no #DB
  mov byte [0x603], 0x5a
after_store:
  mov eax, 0x400
  mov dr7, eax
  sub di, after_store
  mov edx, dr6
  hlt
handler:
  inc si
  mov bp, sp
  mov di, [bp]
  iret
