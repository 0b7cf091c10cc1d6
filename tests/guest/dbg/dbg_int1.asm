; INT1 / ICEBP (F1): a #DB trap through vector 1, return IP after it, DR6
; unchanged (SDM Vol. 2A INT n/INTO/INT3/INT1). The host's emulator has
; no INT1 (KVM_EXIT_INTERNAL_ERROR there).
; backends: soft
; mode: real
; expect: rsi=1 rdi=0 rdx=0xffff0ff0
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  mov word [4], handler
  mov word [6], 0
  xor si, si
  db 0xf1
after:
  sub di, after
  mov edx, dr6
  hlt
handler:
  inc si
  mov bp, sp
  mov di, [bp]
  iret
