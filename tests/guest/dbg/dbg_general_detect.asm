; DR7.GD (SDM Vol. 3B 17.2.4): the next MOV DR faults with #DB, DR6.BD set
; and GD cleared for the handler. The handler skips the 3-byte MOV DR.
; mode: real
; expect: rsi=1 rdx=0xffff2ff0 rcx=0x400 rax=0
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  mov word [4], handler
  mov word [6], 0
  xor si, si
  mov eax, 0x2400     ; GD
  mov dr7, eax
  xor eax, eax
  mov eax, dr0        ; #DB (fault), skipped by the handler
  xor eax, eax
  hlt
handler:
  inc si
  mov edx, dr6
  mov ecx, dr7
  mov bp, sp
  add word [bp], 3
  iret
