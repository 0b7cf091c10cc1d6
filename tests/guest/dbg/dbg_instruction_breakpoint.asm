; DR0 instruction breakpoint (SDM Vol. 3B 17.2.4, 17.3.1.1): a #DB fault
; with the return IP on the instruction, DR6.B0 set. The handler disables
; DR7 and returns to re-run it (in real mode a 16-bit IRET cannot restore
; RF). SI counts #DBs, DI = return IP - target.
; mode: real
; expect: rsi=1 rdi=0 rdx=0xffff0ff1 rbx=0x77
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  mov word [4], handler
  mov word [6], 0
  xor si, si
  mov eax, target
  mov dr0, eax
  mov eax, 0x401      ; L0, RW0 = 00 (execute), LEN0 = 00
  mov dr7, eax
  nop
target:
  mov bx, 0x77
  sub di, target
  mov edx, dr6
  hlt
handler:
  inc si
  mov bp, sp
  mov di, [bp]
  mov eax, 0x400
  mov dr7, eax
  iret
